// The first screen: where API keys come from, how the page sends and keeps one, the example
// operations and the query builder. A GraphiQL sidebar plugin, open on load while no key is
// stored, closed (one click away on its key icon) once there is one.
import { Button, useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { useState } from 'react';

import { API_KEY_HEADER, STORAGE_KEY, forgetKey, saveKey, useApiKey } from './apiKey.js';
import { EXAMPLES } from './examples.js';

export const START_TITLE = 'Start here';

function KeyIcon(props) {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" {...props}>
      <circle cx="8" cy="15" r="4" />
      <path d="M10.85 12.15 19 4M17 6l2 2M15 8l2 2" strokeLinecap="round" />
    </svg>
  );
}

function KeyForm() {
  const [draft, setDraft] = useState('');
  const submit = (event) => {
    event.preventDefault();
    if (draft.trim()) {
      saveKey(draft);
      setDraft('');
    }
  };
  return (
    <form className="eg-key-form" onSubmit={submit}>
      <label htmlFor="eg-api-key">API key</label>
      <input
        id="eg-api-key"
        type="password"
        autoComplete="off"
        spellCheck="false"
        placeholder="paste a key"
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
      />
      <Button type="submit" disabled={!draft.trim()}>
        Use key
      </Button>
    </form>
  );
}

function KeySection() {
  const key = useApiKey();
  const headerEditor = useGraphiQL((state) => state.headerEditor);
  const defaultHeaders = useGraphiQL((state) => state.defaultHeaders);
  const forget = () => {
    forgetKey();
    headerEditor?.setValue(defaultHeaders || '{}');
  };
  return (
    <section aria-labelledby="eg-key-title">
      <h3 id="eg-key-title">Your API key</h3>
      {key ? (
        <p className="eg-key-status" role="status">
          Using the key ending in <code>…{key.slice(-4)}</code>.
        </p>
      ) : (
        <>
          <p>
            Every operation needs an API key. <code>make run</code> prints demo keys when it
            starts (also in <code>var/demo-keys.txt</code>). Create a real one with{' '}
            <code>python -m app create-api-key --organization ORG --user EMAIL</code> (it
            prints the key on its last line).
          </p>
          <KeyForm />
        </>
      )}
      <p>
        The page sends the key as the <code>{API_KEY_HEADER}</code> header, and in the
        WebSocket&apos;s <code>connection_init</code> for subscriptions. A{' '}
        <code>{API_KEY_HEADER}</code> or <code>Authorization</code> header in the Headers editor
        takes its place.
      </p>
      <p>
        The key is kept in this browser&apos;s localStorage (<code>{STORAGE_KEY}</code>), so it
        survives reloads, until you forget it here.
      </p>
      <Button onClick={forget} disabled={!key}>
        Forget key
      </Button>
    </section>
  );
}

function ExamplesSection() {
  const { addTab, setVisiblePlugin } = useGraphiQLActions();
  const queryEditor = useGraphiQL((state) => state.queryEditor);
  const variableEditor = useGraphiQL((state) => state.variableEditor);
  const open = (example) => {
    addTab();
    queryEditor?.setValue(example.query);
    variableEditor?.setValue(example.variables);
  };
  return (
    <section aria-labelledby="eg-examples-title">
      <h3 id="eg-examples-title">Examples</h3>
      <p>Each opens in a new tab; run it with ▶ (Ctrl-Enter).</p>
      <ul className="eg-examples">
        {EXAMPLES.map((example) => (
          <li key={example.title}>
            <Button onClick={() => open(example)}>{example.title}</Button>
            <span>{example.summary}</span>
          </li>
        ))}
      </ul>
      <h3>Query builder</h3>
      <p>
        The explorer lists every field: tick the ones you want and it writes the query.
      </p>
      <Button onClick={() => setVisiblePlugin('GraphiQL Explorer')}>Open the explorer</Button>
    </section>
  );
}

function StartPanel() {
  const { setVisiblePlugin } = useGraphiQLActions();
  return (
    <div className="eg-start">
      <div className="graphiql-doc-explorer-title">{START_TITLE}</div>
      <KeySection />
      <ExamplesSection />
      <p>
        <Button onClick={() => setVisiblePlugin(null)}>Hide this panel</Button>{' '}
        (the key icon on the left brings it back)
      </p>
    </div>
  );
}

export const startPlugin = { title: START_TITLE, icon: KeyIcon, content: StartPanel };
