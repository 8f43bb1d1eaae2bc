// GraphiQL for Switchboard's / page. Bundled by `make graphiql` into
// ../assets (committed), which the binary embeds: nothing loads from a CDN.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { parse } from 'graphql';
import 'graphiql/graphiql.css';

const config = JSON.parse(document.getElementById('switchboard-config').textContent);
const endpoint = new URL(config.endpoint, window.location.href);
const socketURL = endpoint.href.replace(/^http/, 'ws');

// One graphql-transport-ws client per Authorization value: a browser cannot
// set headers on a websocket, so the header pane's token travels in
// connection_init, where the server reads it.
const clients = new Map();
function socketFor(authorization) {
  let client = clients.get(authorization);
  if (!client) {
    client = createClient({
      url: socketURL,
      connectionParams: authorization ? { Authorization: authorization } : {},
      lazy: true,
    });
    clients.set(authorization, client);
  }
  return client;
}

function isSubscription(params) {
  try {
    const doc = parse(params.query);
    const ops = doc.definitions.filter((d) => d.kind === 'OperationDefinition');
    const op = params.operationName ? ops.find((d) => d.name && d.name.value === params.operationName) : ops[0];
    return !!op && op.operation === 'subscription';
  } catch {
    return false;
  }
}

function fetcher(params, opts) {
  const headers = { ...((opts && opts.headers) || {}) };
  if (isSubscription(params)) {
    const client = socketFor(headers.Authorization || headers.authorization || '');
    return {
      subscribe(observer) {
        const dispose = client.subscribe(params, {
          next: (v) => observer.next(v),
          error: (e) => observer.error(e instanceof Error ? e : new Error(e && e.reason ? e.reason : JSON.stringify(e))),
          complete: () => observer.complete(),
        });
        return { unsubscribe: dispose };
      },
    };
  }
  return fetch(endpoint.href, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify(params),
  }).then((r) => r.json());
}

// A link may carry the editors' contents (?query=&variables=&headers=), so
// that a query can be shared, and tests can open one.
const search = new URLSearchParams(window.location.search);

const defaultQuery = `# Welcome to Switchboard.
#
# 1. Run Login with the development admin that \`make run\` printed
#    (scripts/dev-env.sh prints the password again).
# 2. Put the token after "Bearer " in the Headers pane below.
# 3. Run Me, or anything else: Docs (top left) browses the schema.
#
# Subscriptions (messageAdded, conversationUpdated, …) run over websockets
# with the same header; \`make simulate\` makes messages arrive.

mutation Login {
  login(email: "admin@example.com", password: "") { token expiresAt }
}

query Me {
  me { id email name role }
}
`;

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    query: search.get('query') || undefined,
    variables: search.get('variables') || undefined,
    headers: search.get('headers') || undefined,
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  }),
);
