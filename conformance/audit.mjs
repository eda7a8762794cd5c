// Runs the graphql-http server audit (GraphQL over HTTP specification) against the
// server at AUDIT_URL, as the bearer of AUDIT_TOKEN, and exits non-zero when any MUST requirement fails.
// Prints one JSON line per audit so the Go test can report them.
import { auditServer } from 'graphql-http';

const url = process.env.AUDIT_URL;
if (!url) {
  console.error('AUDIT_URL is required, e.g. http://127.0.0.1:8080/query');
  process.exit(2);
}

// The server refuses every request without a valid token before it reads the
// document, so the audit sends one (AUDIT_TOKEN) with each of its requests.
const token = process.env.AUDIT_TOKEN;
if (!token) {
  console.error('AUDIT_TOKEN (a bearer token the server accepts) is required');
  process.exit(2);
}
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
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
