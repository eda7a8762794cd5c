// Progression board: a read-only view of one project's channels and target
// environments, kept live by the artifactEvents subscription.
//
// Plain JavaScript, no build step and no framework: the page (templates/board.html)
// is served by the server, this file and graphql-ws (vendored, see vendor.json)
// are its only scripts, and every value from the API reaches the page through
// textContent, never as HTML. Copy what you need for your portal.
//
// The token is pasted once and kept in this tab's sessionStorage only.
'use strict';

(function () {
  const CHANNELS = ['DEV', 'TEST', 'STAGING', 'PROD'];
  const TOKEN_KEY = 'artifact-trust.board.token';
  const PROJECT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  const SUBMITTED_CHECKS = ['SIGNATURE', 'ATTESTATION', 'BLOB_DIGEST', 'SOURCE_POLICY'];
  const BASELINE_CHECKS = ['DIGEST_PRESENT', 'DIGEST_CANONICAL', 'KIND_EXPLICIT', 'SOURCE_TYPE_EXPLICIT', 'SOURCE_ALLOWLISTED'];
  // Cells per deployable request: each costs about 15 selections and one
  // alias, well under the server's limits (500 selections, 30 aliases).
  const CELLS_PER_REQUEST = 12;

  const path = document.body.dataset.graphqlPath;
  const httpURL = location.origin + path;
  const wsURL = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + path;

  const $ = (id) => document.getElementById(id);
  const state = { token: null, viewer: null, project: null, live: null, refreshTimer: 0, loading: null, again: false };

  // ---------- DOM helpers: text only, never HTML from data ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function shortDigest(d) {
    const [alg, hex] = String(d).split(':');
    return hex ? alg + ':' + hex.slice(0, 12) : String(d);
  }

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  function ago(iso) {
    const s = (new Date(iso).getTime() - Date.now()) / 1000;
    const abs = Math.abs(s);
    if (abs < 60) return relative.format(Math.round(s), 'second');
    if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
    if (abs < 86400) return relative.format(Math.round(s / 3600), 'hour');
    return relative.format(Math.round(s / 86400), 'day');
  }

  function timeEl(iso) {
    return el('time', { datetime: iso, title: new Date(iso).toLocaleString() }, ago(iso));
  }

  function trustBadge(trust) {
    const cls = { VERIFIED: 'ok', UNVERIFIED: 'warn', FAILED_VERIFICATION: 'bad', REVOKED: 'bad' }[trust] || '';
    return el('span', { class: 'badge ' + cls }, trust);
  }

  function announce(msg) {
    const a = $('announce');
    a.textContent = '';
    setTimeout(() => { a.textContent = msg; }, 50);
  }

  // ---------- GraphQL over HTTP ----------

  class AuthError extends Error {}

  async function gql(query, variables) {
    const resp = await fetch(httpURL, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json;q=0.9',
        Authorization: 'Bearer ' + state.token,
      },
      body: JSON.stringify({ query, variables }),
    });
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON: reported below */ }
    const errors = (body && body.errors) || [];
    if (resp.status === 401 || errors.some((e) => e.extensions && e.extensions.code === 'UNAUTHENTICATED')) {
      throw new AuthError((errors[0] && errors[0].message) || 'the token was refused');
    }
    if (errors.length) {
      const e = errors[0];
      const code = e.extensions && e.extensions.code ? e.extensions.code + ': ' : '';
      throw new Error(code + e.message);
    }
    if (!resp.ok || !body) throw new Error('HTTP ' + resp.status + ' from ' + httpURL);
    return body.data;
  }

  // ---------- sign in ----------

  function show(section) {
    for (const id of ['signin', 'picker', 'board']) $(id).hidden = true;
    for (const id of section) $(id).hidden = false;
  }

  function signedOut(message) {
    stopLive();
    state.token = null;
    state.viewer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('whoami').textContent = '';
    $('token-error').textContent = message || '';
    show(['signin']);
    $('token').focus();
  }

  async function useToken(raw) {
    const tok = String(raw || '').trim().replace(/^bearer\s+/i, '');
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(tok)) {
      throw new Error('That is not a JWT (three base64url parts separated by dots).');
    }
    state.token = tok;
    const data = await gql('query BoardViewer { viewer { subject actorType roles { project roles } } }');
    state.viewer = data.viewer;
    sessionStorage.setItem(TOKEN_KEY, tok);
    $('whoami').textContent = 'Signed in as ' + data.viewer.subject + ' (' + data.viewer.actorType.toLowerCase().replace('_', ' ') + ')';
    const list = $('projects');
    list.replaceChildren(...data.viewer.roles.filter((r) => r.project !== '*').map((r) => el('option', { value: r.project })));
  }

  $('token-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('token-error').textContent = '';
    try {
      await useToken($('token').value);
      $('token').value = '';
      afterSignIn();
    } catch (err) {
      state.token = null;
      $('token-error').textContent = err instanceof AuthError
        ? 'The server refused this token: ' + err.message
        : err.message;
      $('token').focus();
    }
  });

  $('forget').addEventListener('click', () => {
    location.hash = '';
    signedOut('Token forgotten.');
  });

  function afterSignIn() {
    const fromHash = new URLSearchParams(location.hash.slice(1)).get('project');
    const own = state.viewer.roles.filter((r) => r.project !== '*');
    const project = fromHash || (own.length === 1 ? own[0].project : '');
    show(['picker']);
    if (project) {
      $('project').value = project;
      openProject(project);
    } else {
      $('project').focus();
    }
  }

  // ---------- project board ----------

  $('project-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    openProject($('project').value.trim());
  });

  window.addEventListener('hashchange', () => {
    const p = new URLSearchParams(location.hash.slice(1)).get('project');
    if (state.token && p && p !== state.project) {
      $('project').value = p;
      openProject(p);
    }
  });

  function openProject(project) {
    if (!PROJECT_RE.test(project)) {
      $('board-error').textContent = '';
      $('project').setCustomValidity('letters, digits and . _ - (at most 128, starting with a letter or digit)');
      $('project').reportValidity();
      return;
    }
    $('project').setCustomValidity('');
    stopLive();
    state.project = project;
    if (new URLSearchParams(location.hash.slice(1)).get('project') !== project) {
      history.replaceState(null, '', '#project=' + encodeURIComponent(project));
    }
    $('board-project').textContent = project;
    $('events').replaceChildren();
    $('board-error').textContent = '';
    $('grid').querySelector('tbody').replaceChildren();
    show(['picker', 'board']);
    refresh().then(() => $('board-title').focus());
    startLive(project);
  }

  const BOARD_QUERY = `query Board($project: String!) {
  channelStatus(project: $project) {
    channel targetEnvironment digest promotedAt promotedBy
    artifact { id trustState lifecycleState }
  }
  recentDenials(project: $project, first: 50) {
    operation actor digest artifactId channel targetEnvironment reasons reasonClasses correlationId at
  }
  projectPolicy(project: $project) {
    version requiredChecks
    channels { channel requiredTrust requiredChecks promoterRoles promoterSubjects }
  }
}`;

  const DEPLOYABLE_FIELDS = `digest artifact { id trustState lifecycleState verification { check result } promotions { channel targetEnvironment promotedBy promotedAt } }`;

  // loadDeployables asks deployable for every cell, a few cells per request.
  async function loadDeployables(project, cells) {
    const out = new Map();
    for (let i = 0; i < cells.length; i += CELLS_PER_REQUEST) {
      const chunk = cells.slice(i, i + CELLS_PER_REQUEST);
      const vars = { project };
      const params = ['$project: String!'];
      const fields = chunk.map((c, j) => {
        params.push('$e' + j + ': String');
        vars['e' + j] = c.env;
        return `c${j}: deployable(project: $project, channel: ${c.channel}, targetEnvironment: $e${j}) { ${DEPLOYABLE_FIELDS} }`;
      });
      const data = await gql(`query BoardDeployables(${params.join(', ')}) {\n  ${fields.join('\n  ')}\n}`, vars);
      chunk.forEach((c, j) => out.set(c.key, data['c' + j]));
    }
    return out;
  }

  const cellKey = (channel, env) => channel + '\u0000' + (env === null || env === undefined ? '' : env);

  // refresh reloads the whole board; calls made while one runs are folded into
  // one more run after it.
  async function refresh() {
    if (state.loading) {
      state.again = true;
      return state.loading;
    }
    const project = state.project;
    state.loading = (async () => {
      try {
        const data = await gql(BOARD_QUERY, { project });
        const envs = [...new Set(data.channelStatus.map((r) => r.targetEnvironment ?? null))];
        envs.sort((a, b) => (a === null ? -1 : b === null ? 1 : a.localeCompare(b)));
        if (envs.length === 0) envs.push(null);
        const cells = [];
        for (const env of envs) for (const channel of CHANNELS) cells.push({ channel, env, key: cellKey(channel, env) });
        const deployables = await loadDeployables(project, cells);
        if (project !== state.project) return; // another project was opened meanwhile
        render(data, envs, deployables);
        $('board-error').textContent = '';
      } catch (err) {
        if (err instanceof AuthError) {
          signedOut('The server refused the token (' + err.message + '). Paste a new one.');
          return;
        }
        $('board-error').textContent = 'Could not load project ' + project + ': ' + err.message;
      }
    })();
    try {
      await state.loading;
    } finally {
      state.loading = null;
      if (state.again) {
        state.again = false;
        refresh();
      }
    }
  }

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(refresh, 250);
  }

  function render(data, envs, deployables) {
    const policy = new Map(data.projectPolicy.channels.map((c) => [c.channel, c]));
    const latest = new Map(data.channelStatus.map((r) => [cellKey(r.channel, r.targetEnvironment), r]));
    const denials = new Map();
    for (const d of data.recentDenials) {
      if (!d.channel) continue;
      const k = cellKey(d.channel, d.targetEnvironment);
      if (!denials.has(k)) denials.set(k, []);
      denials.get(k).push(d);
    }

    const head = el('tr', {}, el('th', { scope: 'col' }, 'Target environment'),
      CHANNELS.map((ch) => {
        const p = policy.get(ch);
        const needs = p ? [p.requiredTrust === 'VERIFIED' ? 'VERIFIED' : 'any trust', ...p.requiredChecks].join(' + ') : '';
        const who = p ? [...p.promoterRoles, ...p.promoterSubjects].join(', ') : '';
        return el('th', { scope: 'col' }, ch,
          p && el('span', { class: 'rule' }, 'needs ' + needs),
          p && el('span', { class: 'rule' }, 'promoted by ' + who));
      }));
    $('grid').querySelector('thead').replaceChildren(head);

    const rows = envs.map((env) => el('tr', {},
      el('th', { scope: 'row' }, env === null ? '(no environment)' : env),
      CHANNELS.map((ch) => renderCell(ch, env, deployables.get(cellKey(ch, env)), latest.get(cellKey(ch, env)), denials.get(cellKey(ch, env)) || []))));
    $('grid').querySelector('tbody').replaceChildren(...rows);

    $('denials').replaceChildren(...(data.recentDenials.length ? data.recentDenials.slice(0, 20).map((d) => el('li', {},
      el('strong', {}, d.operation === 'promoteArtifact' ? 'Promotion into ' + d.channel + (d.targetEnvironment ? ' / ' + d.targetEnvironment : '') : 'Registration'),
      ' of ', el('span', { class: 'mono', title: d.digest }, shortDigest(d.digest)),
      ' by ', d.actor, ', ', el('span', { class: 'when' }, timeEl(d.at)), ': ',
      d.reasons.join('; '))) : [el('li', { class: 'cell-empty' }, 'Nothing refused recently.')]));
  }

  function renderCell(channel, env, dep, last, denied) {
    const td = el('td', { dataset: { channel, env: env === null ? '' : env } });
    if (dep) {
      const a = dep.artifact;
      const prom = [...a.promotions].reverse().find((p) => p.channel === channel && (p.targetEnvironment ?? null) === env);
      const checks = new Map(a.verification.map((v) => [v.check, v.result]));
      const baselinePassed = BASELINE_CHECKS.filter((c) => checks.get(c) === 'PASSED').length;
      const evidence = SUBMITTED_CHECKS.filter((c) => checks.has(c)).map((c) => c + (checks.get(c) === 'PASSED' ? ' passed' : ' FAILED'));
      td.append(
        el('div', { class: 'digest-line' },
          trailButton('digest', dep.digest, a.id),
          el('button', { type: 'button', class: 'copy', 'aria-label': 'Copy the digest ' + dep.digest, onclick: (ev) => copyDigest(ev.currentTarget, dep.digest) }, 'Copy')),
        el('ul', { class: 'facts' },
          el('li', {}, trustBadge(a.trustState), ' ', el('span', { class: 'badge' }, a.lifecycleState)),
          el('li', {}, 'Evidence: ' + (evidence.length ? evidence.join(', ') : 'none submitted') + '; baseline ' + baselinePassed + '/' + BASELINE_CHECKS.length),
          prom && el('li', {}, 'Promoted by ', el('strong', {}, prom.promotedBy), ' ', timeEl(prom.promotedAt))));
    } else {
      td.append(el('p', { class: 'cell-empty' }, 'Nothing deployable'));
    }
    if (last && (!dep || last.digest !== dep.digest)) {
      td.append(el('div', { class: 'stale' },
        'Latest promotion ', el('span', { class: 'mono', title: last.digest }, shortDigest(last.digest)),
        ' by ' + last.promotedBy + ' ', timeEl(last.promotedAt),
        ' is not deployable: ' + last.artifact.trustState + ', ' + last.artifact.lifecycleState + '.'));
    }
    if (denied.length) {
      const d = denied[0];
      td.append(el('div', { class: 'blocked', role: 'note' },
        el('strong', {}, 'Blocked ' + (denied.length > 1 ? denied.length + ' times' : 'once') + ' recently'),
        '; last: ', el('span', { class: 'mono', title: d.digest }, shortDigest(d.digest)), ' by ' + d.actor + ' ', timeEl(d.at),
        el('ul', {}, d.reasons.map((r) => el('li', {}, r)))));
    }
    return td;
  }

  // trailButton shows a short digest that opens the artifact's trail; its
  // accessible name starts with the visible text (WCAG 2.5.3), and the full
  // digest is in its title.
  function trailButton(cls, digest, id) {
    return el('button', { type: 'button', class: cls, title: digest, onclick: () => openTrail(id) },
      shortDigest(digest), el('span', { class: 'sr-only' }, ' (show its trail)'));
  }

  async function copyDigest(button, digest) {
    try {
      await navigator.clipboard.writeText(digest);
    } catch (_) {
      const tmp = el('textarea', { class: 'mono', 'aria-hidden': 'true' });
      tmp.value = digest;
      document.body.append(tmp);
      tmp.select();
      document.execCommand('copy');
      tmp.remove();
    }
    button.textContent = 'Copied';
    announce('Copied ' + digest);
    setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  }

  // ---------- an artifact's trail ----------

  const TRAIL_PAGE_FRAGMENT = `fragment TrailPage on AuditEventConnection {
  edges { node { action actor actorType fromState toState promotionChannel promotionEnvironment reason correlationId at } }
  pageInfo { hasNextPage endCursor }
}`;

  const TRAIL_QUERY = `query BoardTrail($id: ID!) {
  artifact(id: $id) {
    id project digest kind sourceType source tags lifecycleState trustState createdAt
    verification { check result detail recordedBy recordedAt }
    promotions { channel targetEnvironment promotedBy promotedAt reason correlationId }
    auditTrail(first: 50) { ...TrailPage }
  }
}
${TRAIL_PAGE_FRAGMENT}`;

  // Older events are paged with auditTrail's cursor: an artifact's trail grows for
  // as long as it lives, and the whole of it (Artifact.audit) is priced by its length.
  const TRAIL_OLDER_QUERY = `query BoardTrailOlder($id: ID!, $after: String!) {
  artifact(id: $id) { auditTrail(first: TRAIL_PAGE, after: $after) { ...TrailPage } }
}
${TRAIL_PAGE_FRAGMENT}`;

  function table(caption, headers, rows) {
    return el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.length ? rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))
        : el('tr', {}, el('td', { colspan: headers.length, class: 'cell-empty' }, 'None'))));
  }

  function trailRow(e) {
    return el('tr', {}, [timeEl(e.at), e.action.replace('app_artifact.', ''), e.actor,
      e.fromState || e.toState ? (e.fromState || '') + ' → ' + (e.toState || '') : '',
      e.promotionChannel ? e.promotionChannel + (e.promotionEnvironment ? ' / ' + e.promotionEnvironment : '') : '',
      e.reason || '', el('span', { class: 'mono' }, e.correlationId)].map((c) => el('td', {}, c)));
  }

  // trailTable shows the newest page of an artifact's audit trail and a button that
  // appends the next older page until the trail's start is reached.
  function trailTable(id, page) {
    const headers = ['When', 'Action', 'Actor', 'From → to', 'Target', 'Reason', 'Correlation id'];
    const tbody = el('tbody', {}, page.edges.map((e) => trailRow(e.node)));
    const more = el('button', { type: 'button', class: 'secondary' }, 'Show older events');
    let cursor = page.pageInfo.endCursor;
    more.hidden = !page.pageInfo.hasNextPage;
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        const { artifact } = await gql(TRAIL_OLDER_QUERY, { id, after: cursor });
        const older = artifact.auditTrail;
        older.edges.forEach((e) => tbody.append(trailRow(e.node)));
        cursor = older.pageInfo.endCursor;
        more.hidden = !older.pageInfo.hasNextPage;
      } catch (err) {
        more.replaceWith(el('p', { class: 'error' }, err.message));
      } finally {
        more.disabled = false;
      }
    });
    return el('div', {},
      el('table', {},
        el('caption', {}, 'Audit trail, newest first'),
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
        tbody),
      more);
  }

  async function openTrail(id) {
    const dialog = $('trail');
    const body = $('trail-body');
    $('trail-title').textContent = 'Trail';
    body.replaceChildren(el('p', {}, 'Loading…'));
    if (!dialog.open) dialog.showModal();
    try {
      const { artifact: a } = await gql(TRAIL_QUERY, { id });
      if (!a) {
        body.replaceChildren(el('p', { class: 'error' }, 'This artifact is gone or not readable with your token.'));
        return;
      }
      $('trail-title').textContent = 'Trail of ' + a.digest;
      body.replaceChildren(
        el('dl', {},
          el('dt', {}, 'Digest'), el('dd', { class: 'mono' }, a.digest),
          el('dt', {}, 'Project'), el('dd', {}, a.project),
          el('dt', {}, 'Source'), el('dd', {}, a.sourceType + ' ' + a.source),
          el('dt', {}, 'Kind'), el('dd', {}, a.kind),
          el('dt', {}, 'Tags (labels only)'), el('dd', {}, a.tags.join(', ') || 'none'),
          el('dt', {}, 'Trust'), el('dd', {}, trustBadge(a.trustState)),
          el('dt', {}, 'Lifecycle'), el('dd', {}, a.lifecycleState),
          el('dt', {}, 'Registered'), el('dd', {}, new Date(a.createdAt).toLocaleString())),
        trailTable(a.id, a.auditTrail),
        table('Verification (latest result of each check)', ['Check', 'Result', 'Detail', 'Recorded by', 'When'],
          a.verification.map((v) => [v.check, v.result, v.detail || '', v.recordedBy, timeEl(v.recordedAt)])),
        table('Promotions, oldest first', ['Channel', 'Environment', 'By', 'When', 'Reason'],
          a.promotions.map((p) => [p.channel, p.targetEnvironment || '', p.promotedBy, timeEl(p.promotedAt), p.reason || ''])));
    } catch (err) {
      if (err instanceof AuthError) {
        dialog.close();
        signedOut('The server refused the token (' + err.message + '). Paste a new one.');
        return;
      }
      body.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  }

  // ---------- live updates: artifactEvents over graphql-transport-ws ----------

  const EVENTS_QUERY = `subscription BoardEvents($project: String!) {
  artifactEvents(project: $project) {
    action actor digest artifactId fromState toState promotionChannel promotionEnvironment at
  }
}`;

  function setLive(kind, text) {
    const s = $('live-status');
    s.dataset.state = kind;
    s.textContent = text;
  }

  function stopLive() {
    if (state.live) {
      state.live.unsubscribe();
      state.live.client.dispose();
      state.live = null;
    }
  }

  function startLive(project) {
    if (typeof graphqlWs === 'undefined') {
      setLive('down', 'Live updates: unavailable (graphql-ws did not load)');
      return;
    }
    setLive('connecting', 'Live updates: connecting…');
    let connectedOnce = false;
    const client = graphqlWs.createClient({
      url: wsURL,
      connectionParams: () => ({ Authorization: 'Bearer ' + state.token }),
      retryAttempts: 30,
      // 4401 and 4403: the token is invalid, expired or may not read the
      // project; reconnecting would not help.
      shouldRetry: (ev) => !(ev && (ev.code === 4401 || ev.code === 4403)),
      on: {
        connected: () => {
          setLive('live', 'Live updates: on');
          if (connectedOnce) scheduleRefresh(); // catch up what was missed while away
          connectedOnce = true;
        },
        closed: (ev) => {
          if (!state.live || state.live.client !== client) return;
          if (ev && (ev.code === 4401 || ev.code === 4403)) {
            setLive('down', 'Live updates: stopped by the server (' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ')');
          } else {
            setLive('connecting', 'Live updates: reconnecting…');
          }
        },
      },
    });
    const unsubscribe = client.subscribe({ query: EVENTS_QUERY, variables: { project } }, {
      next: (result) => {
        if (result.errors && result.errors.length) {
          setLive('down', 'Live updates: ' + result.errors[0].message);
          return;
        }
        addEvent(result.data.artifactEvents);
        scheduleRefresh();
      },
      error: (err) => {
        const msg = err && typeof err.code === 'number' ? 'closed ' + err.code + (err.reason ? ': ' + err.reason : '')
          : Array.isArray(err) ? err.map((e) => e.message).join('; ') : String((err && err.message) || err);
        setLive('down', 'Live updates: ' + msg);
      },
      complete: () => setLive('down', 'Live updates: ended by the server'),
    });
    state.live = { client, unsubscribe };
  }

  function addEvent(e) {
    const what = e.action.replace('app_artifact.', '');
    const target = e.promotionChannel ? ' into ' + e.promotionChannel + (e.promotionEnvironment ? ' / ' + e.promotionEnvironment : '') : '';
    const change = e.toState ? ' (' + (e.fromState ? e.fromState + ' → ' : '') + e.toState + ')' : '';
    const item = el('li', { class: 'fresh' },
      el('span', { class: 'when' }, new Date(e.at).toLocaleTimeString()), ' ',
      el('strong', {}, what), target, ' of ',
      trailButton('link mono', e.digest, e.artifactId),
      ' by ' + e.actor + change);
    const list = $('events');
    list.prepend(item);
    while (list.children.length > 50) list.lastElementChild.remove();
  }

  // Relative times drift: redraw them every half minute.
  setInterval(() => {
    for (const t of document.querySelectorAll('time[datetime]')) t.textContent = ago(t.getAttribute('datetime'));
  }, 30000);

  // ---------- start ----------

  (async function start() {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (!saved) {
      show(['signin']);
      return;
    }
    try {
      await useToken(saved);
      afterSignIn();
    } catch (err) {
      signedOut(err instanceof AuthError ? 'The saved token was refused (' + err.message + '). Paste a new one.' : err.message);
    }
  })();
})();
