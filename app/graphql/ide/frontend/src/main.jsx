// Entry point of the self-hosted GraphiQL bundle served at GET /graphql.
//
// The HTML page (app/graphql/ide/index.html) carries no inline script: every
// setting arrives through data- attributes on the #graphiql element, so the
// page works under a Content-Security-Policy without 'unsafe-inline' scripts.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';

import 'graphiql/style.css';
import './page.css';

const DEFAULT_QUERY = `# Put your API key into REB-APIKEY under Headers below.
{
  viewer {
    user {
      id
      email
    }
  }
  dataExports(limit: 10) {
    total
    items {
      id
      name
      status
    }
  }
}
`;

const DEFAULT_HEADERS = JSON.stringify({ 'REB-APIKEY': '' }, null, 2);

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

  const fetcher = createGraphiQLFetcher({
    url: absoluteUrl(graphqlPath),
    // Only opened when a subscription operation is run.
    subscriptionUrl: absoluteUrl(
      graphqlPath,
      window.location.protocol === 'https:' ? 'wss:' : 'ws:',
    ),
  });

  createRoot(root).render(
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={root.dataset.defaultQuery || DEFAULT_QUERY}
      defaultHeaders={DEFAULT_HEADERS}
      shouldPersistHeaders={true}
      isHeadersEditorEnabled={true}
      defaultEditorToolsVisibility="headers"
    />,
  );
}

const root = document.getElementById('graphiql');
if (root) {
  mount(root);
}
