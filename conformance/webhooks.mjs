// Verifies webhook deliveries captured by a Go test (server/webhooks_test.go) with
// independent implementations: the signature with the npm standardwebhooks package
// and the body with the npm cloudevents parser. Reads a JSON file (argv[2]):
// [{ "secrets": ["whsec_..."], "headers": {...}, "body": "..." }], and prints one
// JSON line per delivery: which secrets verify it, and the parsed CloudEvent.
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { HTTP } from 'cloudevents';

const deliveries = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const d of deliveries) {
  const out = { id: d.headers['webhook-id'], verified: [], errors: [] };
  d.secrets.forEach((secret, i) => {
    try {
      new Webhook(secret).verify(d.body, d.headers);
      out.verified.push(i);
    } catch (e) {
      out.errors.push(`secret ${i}: ${e.message}`);
    }
  });
  // A tampered body must not verify.
  try {
    new Webhook(d.secrets[0]).verify(d.body + ' ', d.headers);
    out.tamperedVerified = true;
  } catch {
    out.tamperedVerified = false;
  }
  try {
    const ce = HTTP.toEvent({ headers: d.headers, body: d.body });
    ce.validate();
    out.event = { specversion: ce.specversion, id: ce.id, type: ce.type, source: ce.source, subject: ce.subject, datacontenttype: ce.datacontenttype, data: ce.data };
  } catch (e) {
    out.errors.push(`cloudevent: ${e.message}`);
  }
  console.log(JSON.stringify(out));
}
