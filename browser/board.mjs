// Drives Debian's chromium (playwright-core) through the progression board and
// the playground of a running server, as a person would. Run by
// server/browser_test.go, which starts the server, prepares the data and passes:
//
//   BASE_URL        the server, e.g. http://127.0.0.1:PORT
//   GRAPHQL_PATH    the API path (/query)
//   PROJECT         the project on the board
//   VIEWER_TOKEN    a read-only token for PROJECT (what a dashboard user pastes)
//   PROMOTER_TOKEN  a token allowed to promote in PROJECT (the pipeline)
//   ARTIFACT_ID, DIGEST  an artifact promoted into DEV, verified
//   SCREENSHOT_DIR  where the screenshots go
//
// Prints one JSON object per line ({"step": ...}, {"screenshot": path}) and exits
// non-zero on the first failure, or when any request left this machine.
import { chromium } from 'playwright-core';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return v;
};
const base = env('BASE_URL');
const gqlPath = env('GRAPHQL_PATH');
const project = env('PROJECT');
const viewerToken = env('VIEWER_TOKEN');
const promoterToken = env('PROMOTER_TOKEN');
const artifactId = env('ARTIFACT_ID');
const digest = env('DIGEST');
const shots = env('SCREENSHOT_DIR');
const short = digest.slice(0, 'sha256:'.length + 12);
const trailName = short + ' (show its trail)';

const log = (obj) => console.log(JSON.stringify(obj));
const step = (name) => log({ step: name });

// Every request and websocket the pages open, and every console error.
const offMachine = [];
const consoleErrors = [];
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
function watch(page, label) {
  const check = (url) => {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return;
    if (!loopback.has(u.hostname)) offMachine.push(`${label}: ${url}`);
  };
  page.on('request', (r) => check(r.url()));
  page.on('websocket', (ws) => check(ws.url()));
  page.on('console', (m) => {
    // The playground introspects before a token is pasted (401): expected.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) consoleErrors.push(`${label}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught ${e.message}`));
}

async function graphql(token, query, variables) {
  const resp = await fetch(base + gqlPath, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }),
  });
  const body = await resp.json();
  if (body.errors) throw new Error('GraphQL: ' + JSON.stringify(body.errors));
  return body.data;
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  watch(page, 'board');

  step('the board asks for a token');
  await page.goto(base + '/board');
  await page.getByLabel('Bearer token (a JWT)').waitFor();

  step('a wrong token is refused with the server\'s reason');
  await page.getByLabel('Bearer token (a JWT)').fill('not-a-token');
  await page.getByRole('button', { name: 'Use this token' }).click();
  await page.getByRole('alert').filter({ hasText: 'not a JWT' }).waitFor();

  step('log in: paste the token once');
  await page.getByLabel('Bearer token (a JWT)').fill('Bearer ' + viewerToken);
  await page.getByRole('button', { name: 'Use this token' }).click();
  // The token names one project: the board opens it.
  await page.getByRole('heading', { name: 'Project ' + project }).waitFor();
  const devCell = page.locator(`#grid td[data-channel="DEV"][data-env=""]`);
  const testCell = page.locator(`#grid td[data-channel="TEST"][data-env=""]`);
  await devCell.getByRole('button', { name: trailName }).waitFor();
  expect((await devCell.textContent()).includes('VERIFIED'), 'the DEV cell does not show the trust state');
  expect((await testCell.textContent()).includes('Nothing deployable'), 'TEST is not empty before the promotion');
  const stored = await page.evaluate(() => ({ session: Object.keys(sessionStorage), local: Object.keys(localStorage) }));
  expect(stored.session.includes('artifact-trust.board.token') && stored.local.length === 0, 'token storage: ' + JSON.stringify(stored));

  step('live updates connect');
  await page.getByRole('status').filter({ hasText: 'Live updates: on' }).waitFor();

  step('a promotion appears live, without reloading');
  await page.evaluate(() => { window.__noReload = true; });
  await graphql(promoterToken, `mutation($id: ID!) { promoteArtifact(input: { artifactId: $id, channel: TEST, reason: "browser test" }) { id } }`, { id: artifactId });
  await testCell.getByRole('button', { name: trailName }).waitFor();
  expect(await page.evaluate(() => window.__noReload === true), 'the page was reloaded');
  await page.locator('#events li').filter({ hasText: 'promote into TEST' }).waitFor();
  expect((await testCell.textContent()).includes(short), 'the TEST cell does not show the short digest');
  const shot1 = path.join(shots, 'board.png');
  await page.screenshot({ path: shot1, fullPage: true });
  log({ screenshot: shot1 });

  step('the digest can be copied');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await testCell.getByRole('button', { name: 'Copy the digest ' + digest }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText()) === digest, 'the copied text is not the full digest');

  step('follow the artifact: its trail');
  await testCell.getByRole('button', { name: trailName }).click();
  const dialog = page.getByRole('dialog', { name: 'Trail of ' + digest });
  await dialog.waitFor();
  const trail = dialog.getByRole('table', { name: 'Audit trail, newest first' });
  await trail.getByRole('row').filter({ hasText: 'TEST' }).filter({ hasText: 'browser test' }).waitFor();
  expect(await trail.getByRole('row').count() >= 5, 'the trail lacks events'); // header, register, verify, DEV, TEST
  const shot2 = path.join(shots, 'board-trail.png');
  await page.screenshot({ path: shot2 });
  log({ screenshot: shot2 });
  await dialog.getByRole('button', { name: 'Close the trail' }).click();

  step('a reload keeps the token for this tab only');
  await page.reload();
  await page.getByRole('heading', { name: 'Project ' + project }).waitFor();
  const fresh = await browser.newContext();
  const other = await fresh.newPage();
  watch(other, 'other tab');
  await other.goto(base + '/board');
  await other.getByLabel('Bearer token (a JWT)').waitFor();
  await fresh.close();

  step('the playground works from the binary alone');
  const pg = await context.newPage();
  watch(pg, 'playground');
  await pg.goto(base + '/');
  await pg.locator('.graphiql-container').waitFor();
  const headers = pg.locator('.graphiql-editor-tool .graphiql-editor').last();
  await headers.waitFor();
  expect((await headers.textContent()).includes('Authorization'), 'the Headers tab holds no hint');
  await headers.click();
  await pg.keyboard.press('ControlOrMeta+A');
  await pg.keyboard.press('Delete');
  await pg.keyboard.insertText(JSON.stringify({ Authorization: 'Bearer ' + viewerToken }));
  await pg.getByRole('button', { name: /Execute query/ }).click();
  await pg.locator('.result-window').filter({ hasText: '"subject"' }).waitFor();
  const shot3 = path.join(shots, 'playground.png');
  await pg.screenshot({ path: shot3 });
  log({ screenshot: shot3 });

  step('the board passes axe-core\'s WCAG 2.1 A and AA rules');
  // axe is injected as a script, which the board's Content-Security-Policy
  // forbids: this context alone bypasses it.
  const audit = await browser.newContext({ viewport: { width: 1360, height: 1000 }, bypassCSP: true });
  const a11y = await audit.newPage();
  watch(a11y, 'accessibility');
  await a11y.goto(base + '/board');
  await a11y.getByLabel('Bearer token (a JWT)').fill(viewerToken);
  await a11y.getByRole('button', { name: 'Use this token' }).click();
  await a11y.locator(`#grid td[data-channel="TEST"][data-env=""]`).getByRole('button', { name: trailName }).waitFor();
  await a11y.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const axeRun = () => a11y.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  let violations = await axeRun();
  await a11y.locator(`#grid td[data-channel="TEST"][data-env=""]`).getByRole('button', { name: trailName }).click();
  await a11y.getByRole('dialog', { name: 'Trail of ' + digest }).getByRole('table').first().waitFor();
  violations = violations.concat(await axeRun());
  await audit.close();
  expect(violations.length === 0, 'accessibility violations: ' + violations.join(' | '));

  expect(offMachine.length === 0, 'requests left the machine: ' + offMachine.join(', '));
  expect(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join(' | '));
  log({ step: 'done', requestsOffMachine: 0 });
} catch (err) {
  failed = true;
  log({ fail: String(err && err.stack ? err.stack : err), offMachine, consoleErrors });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
