// The GraphQL playground: GraphiQL, React and graphql-ws are served by this
// server (see vendor.json), so the page works without any other host.
//
// Queries and mutations go over HTTP with the headers of the Headers tab.
// Subscriptions go over the graphql-transport-ws websocket on the same path,
// authenticated in connection_init with the Authorization entry of the same tab
// (a browser cannot put headers on a websocket upgrade).
//
// GraphiQL keeps its tabs and headers (the token included) in this tab's
// sessionStorage only: closing the tab forgets the token.
'use strict';

(function () {
  const body = document.body;
  const path = body.dataset.graphqlPath;
  const url = location.origin + path;
  const wsURL = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + path;

  const httpFetcher = GraphiQL.createFetcher({ url });

  // operation returns the operation params selects in the parsed document.
  function operation(params, opts) {
    const doc = opts && opts.documentAST;
    if (!doc) return null;
    const ops = doc.definitions.filter((d) => d.kind === 'OperationDefinition');
    if (params.operationName) return ops.find((o) => o.name && o.name.value === params.operationName) || null;
    return ops.length === 1 ? ops[0] : null;
  }

  function authorization(headers) {
    for (const [k, v] of Object.entries(headers || {})) {
      if (k.toLowerCase() === 'authorization') return String(v);
    }
    return '';
  }

  // subscribe runs one subscription on its own connection, closed when GraphiQL
  // stops listening or the server completes it.
  async function* subscribe(params, headers) {
    const client = graphqlWs.createClient({
      url: wsURL,
      lazy: true,
      retryAttempts: 0,
      connectionParams: { Authorization: authorization(headers) },
    });
    try {
      for await (const result of client.iterate({
        query: params.query,
        variables: params.variables,
        operationName: params.operationName,
      })) {
        yield result;
      }
    } catch (err) {
      // A refused connection arrives as a CloseEvent: show its code and reason.
      if (err && typeof err.code === 'number') {
        yield { errors: [{ message: 'websocket closed ' + err.code + (err.reason ? ': ' + err.reason : '') }] };
      } else {
        yield { errors: [{ message: String((err && err.message) || err) }] };
      }
    } finally {
      await client.dispose();
    }
  }

  function fetcher(params, opts) {
    const op = operation(params, opts);
    if (op && op.operation === 'subscription') return subscribe(params, opts && opts.headers);
    return httpFetcher(params, opts);
  }

  const tokenCommand = body.dataset.tokenCommand;
  const defaultQuery = [
    '# Put a token in the Headers tab below, then run this with the button or',
    '# Ctrl-Enter (and refetch the schema with the circling arrows, bottom left).',
    ...(tokenCommand
      ? ['# On this development server, mint one from the repository root with:', '#', '#   ' + tokenCommand]
      : ['# The server prints how to get one when it starts.']),
    '#',
    '# The progression board is at /board.',
    '',
    'query Me {',
    '  viewer {',
    '    subject',
    '    actorType',
    '    roles { project roles }',
    '  }',
    '}',
    '',
  ].join('\n');

  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery,
      defaultHeaders: body.dataset.headersHint,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      storage: window.sessionStorage,
      inputValueDeprecation: true,
    }),
  );
})();
