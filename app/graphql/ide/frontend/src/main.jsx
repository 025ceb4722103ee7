// Entry point of the self-hosted GraphiQL bundle served at GET /graphql.
//
// The HTML page (app/graphql/ide/index.html) carries no inline script: every
// setting arrives through data- attributes on the #graphiql element, so the
// page works under a Content-Security-Policy without 'unsafe-inline' scripts.
//
// The API key is entered in the "Start here" panel (StartPanel.jsx) and added to every
// operation by the fetcher (apiKey.js); the headers editor is not persisted, so the one
// place a key is kept is the one the panel names and "Forget key" clears.
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';

import { readKey, withApiKey } from './apiKey.js';
import { EXAMPLES } from './examples.js';
import { START_TITLE, startPlugin } from './StartPanel.jsx';

import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './page.css';

const DEFAULT_HEADERS = '{}';
// First visit: one tab per example (GraphiQL keeps the user's tabs after that).
const DEFAULT_TABS = EXAMPLES.map(({ query, variables }) => ({ query, variables }));
const PLUGINS = [startPlugin, explorerPlugin()];

// The "Start here" panel opens while no key is stored; with one it starts closed, even when
// it was open as the page was left (GraphiQL would restore it).
function initialPlugin() {
  if (!readKey()) {
    return START_TITLE;
  }
  try {
    if (window.localStorage.getItem('graphiql:visiblePlugin') === START_TITLE) {
      window.localStorage.removeItem('graphiql:visiblePlugin');
    }
  } catch {
    // no storage: nothing was restored
  }
  return undefined;
}

// GraphiQL fills the variables editor from its `initialVariables`, not from the first
// default tab, so a first visit passes the first example's variables there too.
function firstVisit() {
  try {
    return window.localStorage.getItem('graphiql:tabState') === null;
  } catch {
    return true;
  }
}

// Monaco runs its language services in web workers. They are built as
// separate same-origin files (see build.mjs), so CSP `worker-src 'self'` is
// enough: nothing is created from blob: or data: URLs.
function installMonacoWorkers(assetsPath) {
  const workerUrl = (name) => `${assetsPath}/workers/${name}.worker.js`;
  globalThis.MonacoEnvironment = {
    getWorker(_workerId, label) {
      switch (label) {
        case 'json':
          return new Worker(workerUrl('json'), { name: 'json' });
        case 'graphql':
          return new Worker(workerUrl('graphql'), { name: 'graphql' });
        default:
          return new Worker(workerUrl('editor'), { name: 'editor' });
      }
    },
  };
}

function absoluteUrl(path, protocol) {
  const url = new URL(path, window.location.origin);
  if (protocol) {
    url.protocol = protocol;
  }
  return url.toString();
}

function mount(root) {
  const graphqlPath = root.dataset.graphqlPath || '/graphql';
  const assetsPath = (root.dataset.assetsPath || '/graphql/ide/static').replace(/\/+$/, '');

  installMonacoWorkers(assetsPath);

  const fetcher = withApiKey(
    createGraphiQLFetcher({
      url: absoluteUrl(graphqlPath),
      // Only opened when a subscription operation is run.
      subscriptionUrl: absoluteUrl(
        graphqlPath,
        window.location.protocol === 'https:' ? 'wss:' : 'ws:',
      ),
    }),
  );

  createRoot(root).render(
    <GraphiQL
      fetcher={fetcher}
      defaultTabs={DEFAULT_TABS}
      initialVariables={firstVisit() ? DEFAULT_TABS[0].variables : undefined}
      defaultHeaders={DEFAULT_HEADERS}
      shouldPersistHeaders={false}
      isHeadersEditorEnabled={true}
      defaultEditorToolsVisibility="variables"
      plugins={PLUGINS}
      visiblePlugin={initialPlugin()}
    />,
  );
}

const root = document.getElementById('graphiql');
if (root) {
  mount(root);
}
