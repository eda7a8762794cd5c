// Runs the graphql-http server audit (GraphQL over HTTP specification) against the
// server at AUDIT_URL and exits non-zero when any MUST requirement fails.
// Prints one JSON line per audit so the Go test can report them.
import { auditServer } from 'graphql-http';

const url = process.env.AUDIT_URL;
if (!url) {
  console.error('AUDIT_URL is required, e.g. http://127.0.0.1:8080/query');
  process.exit(2);
}

const results = await auditServer({ url });
let mustFailures = 0;
for (const r of results) {
  const level = r.name.startsWith('MUST') ? 'MUST' : r.name.startsWith('SHOULD') ? 'SHOULD' : 'MAY';
  const line = { id: r.id, level, status: r.status, name: r.name };
  if (r.status !== 'ok') {
    line.reason = r.reason;
    if (level === 'MUST') mustFailures++;
  }
  console.log(JSON.stringify(line));
}
console.log(JSON.stringify({ summary: true, total: results.length, ok: results.filter((r) => r.status === 'ok').length, mustFailures }));
process.exit(mustFailures === 0 ? 0 : 1);
