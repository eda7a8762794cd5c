// Drives the real graphql-ws client (the reference graphql-transport-ws client)
// against the server at WS_URL, with its default retry settings, and prints one
// JSON line per scenario for the Go test (server/graphqlws_test.go) to judge:
//
//   works     VIEWER_TOKEN subscribes; PUBLISHER_TOKEN registers DIGEST over HTTP;
//             the event must arrive.
//   badToken  a token the server refuses: the connection must close with 4401 and
//             the client must not connect again (counted over OBSERVE_MS).
//   expiring  EXPIRING_TOKEN (expires seconds from now): the connection must close
//             with 4401 at the expiry, and the client must not connect again.
//   forbidden VIEWER_TOKEN subscribes to another project: FORBIDDEN, close 4403,
//             and no second connection.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return v;
};
const wsURL = env('WS_URL');
const httpURL = wsURL.replace(/^ws/, 'http');
const metricsURL = httpURL.replace(/\/[^/]*$/, '/metrics');
const observeMs = Number(process.env.OBSERVE_MS || 4500);
// The client may reject its internal connection promise when the socket closes;
// what matters here is what the scenarios record.
process.on('unhandledRejection', () => {});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// run subscribes once with token and reports what the client saw: how often it
// connected, the close codes, and how the subscription ended.
async function run(name, token, query, { untilMs, onSubscribed, stopAfterEvent = false, watchMs = observeMs, clientOptions = {} } = {}) {
  const seen = { scenario: name, connecting: 0, opened: 0, closes: 0, closeCodes: [], events: [], ended: null };
  const client = createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    on: {
      connecting: () => seen.connecting++,
      opened: () => seen.opened++,
      closed: (ev) => {
        // A reconnecting client closes thousands of times: keep the first codes.
        if (seen.closes++ < 10) seen.closeCodes.push(ev?.code);
      },
    },
    ...clientOptions,
  });
  const done = new Promise((resolve) => {
    client.subscribe(
      { query },
      {
        next: (v) => {
          seen.events.push(v);
          if (stopAfterEvent) resolve();
        },
        error: (err) => {
          if (Array.isArray(err)) seen.ended = { errors: err.map((e) => e.extensions?.code ?? e.message) };
          else if (err && typeof err.code === 'number') seen.ended = { closeCode: err.code, reason: err.reason };
          else seen.ended = { error: String(err?.message ?? err) };
          resolve();
        },
        complete: () => {
          seen.ended = { complete: true };
          resolve();
        },
      },
    );
  });
  if (onSubscribed) await onSubscribed(seen);
  await Promise.race([done, sleep(untilMs ?? observeMs)]);
  // Keep watching: a client that reconnects does so within this window.
  await sleep(watchMs);
  await Promise.resolve(client.dispose()).catch(() => {});
  console.log(JSON.stringify(seen));
}

async function liveSubscribers() {
  const text = await (await fetch(metricsURL)).text();
  const m = text.match(/^artifact_trust_live_subscribers (\d+)/m);
  return m ? Number(m[1]) : 0;
}

const events = 'subscription { artifactEvents(project: "payments") { action digest } }';

// The working subscription runs alone, so the live-subscriber count it waits for
// is its own.
await run('works', env('VIEWER_TOKEN'), events, {
  untilMs: 10000,
  stopAfterEvent: true,
  watchMs: 0,
  onSubscribed: async (seen) => {
    for (let i = 0; i < 400 && (await liveSubscribers()) < 1; i++) await sleep(25);
    const res = await fetch(httpURL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${env('PUBLISHER_TOKEN')}` },
      body: JSON.stringify({
        query: 'mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }',
        variables: { in: { project: 'payments', digest: env('DIGEST'), kind: 'OCI_IMAGE', sourceType: 'OCI_REGISTRY', source: 'registry.example.com/payments/app' } },
      }),
    });
    seen.registerStatus = res.status;
  },
});
await Promise.all([
  run('badToken', 'not-a-jwt', events),
  run('expiring', env('EXPIRING_TOKEN'), events, { untilMs: 10000 }),
  // A lazy client closes the socket itself (1000) as soon as its last subscription
  // ends; keeping it open a while lets the server's close code reach it.
  run('forbidden', env('VIEWER_TOKEN'), 'subscription { artifactEvents(project: "billing") { action } }', { clientOptions: { lazyCloseTimeout: 3000 } }),
]);
