// A dashboard that reconnects with its last cursor misses nothing, across
// replicas, with the npm graphql-ws client (server/replicas_test.go judges):
// subscribes to artifactEvents(after: START_CURSOR) on WS_URL_A while WRITES
// registrations run through HTTP_URL_A, drops the connection after a third of
// them, and resubscribes on WS_URL_B (another replica on the same database) with
// the cursor of the last event it received, while the writes go on. Prints one JSON
// line: the artifact ids written, and those received in each phase.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const env = (n) => process.env[n] || (console.error(`${n} is required`), process.exit(2));
const [wsA, wsB, httpA, token, project, start] = ['WS_URL_A', 'WS_URL_B', 'HTTP_URL_A', 'TOKEN', 'PROJECT', 'START_CURSOR'].map(env);
const writes = Number(env('WRITES'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const query = `subscription($p: String!, $after: String) { artifactEvents(project: $p, after: $after) { action artifactId cursor } }`;

function subscribe(url, after, onEvent) {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${token}` }, retryAttempts: 0 });
  const errors = [];
  client.subscribe({ query, variables: { p: project, after } }, {
    next: (m) => (m.errors ? errors.push(JSON.stringify(m.errors)) : onEvent(m.data.artifactEvents)),
    error: (e) => errors.push(String(e && (e.reason || e.message || e))),
    complete: () => {},
  });
  return { client, errors };
}

const written = [];
async function write(i) {
  const digest = 'sha256:' + (0xabc000 + i).toString(16).padStart(64, '0');
  const res = await fetch(httpA, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, variables: { in: { project, digest, kind: 'OCI_IMAGE', sourceType: 'OCI_REGISTRY', source: `registry.example.com/${project}/app` } } }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  written.push(body.data.registerArtifact.id);
}

const phase1 = [], phase2 = [];
let last = start;
let gone = false; // the first dashboard ignores what arrives after it decided to leave
const a = subscribe(wsA, start, (ev) => { if (gone) return; phase1.push(ev.artifactId); last = ev.cursor; });
await sleep(300);
// Writes run in 4 concurrent chains for the whole test.
let next = 0;
const chains = Array.from({ length: 4 }, async () => { while (next < writes) { await write(next++); } });
const all = Promise.all(chains);
while (phase1.length < Math.floor(writes / 3)) await sleep(5);
gone = true;
const resumeFrom = last;
await a.client.dispose(); // the dashboard goes away mid-stream...
const b = subscribe(wsB, resumeFrom, (ev) => phase2.push(ev.artifactId)); // ...and comes back elsewhere
await all;
for (let i = 0; i < 200 && phase1.length + phase2.length < writes; i++) await sleep(50);
await sleep(1000); // anything extra (a duplicate) would arrive now
await b.client.dispose();
console.log(JSON.stringify({ written, phase1, phase2, errors: [...a.errors, ...b.errors] }));
process.exit(0);
