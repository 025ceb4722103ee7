// The API key the IDE sends. It lives in this browser's localStorage under STORAGE_KEY
// (the start panel says so) until "Forget key" removes it; the server never renders it.
import { useSyncExternalStore } from 'react';

export const API_KEY_HEADER = 'REB-APIKEY';
export const STORAGE_KEY = 'exports-gateway:api-key';
// GraphiQL's own storage (namespace "graphiql"): pages before this one persisted the headers
// editor, key included, so "Forget key" clears those entries too.
const GRAPHIQL_HEADERS = 'graphiql:headers';
const GRAPHIQL_TABS = 'graphiql:tabState';

const listeners = new Set();

function notify() {
  for (const listener of listeners) {
    listener();
  }
}

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: the key then lasts until the page is closed
  }
}

let memoryKey = '';

export function readKey() {
  const store = storage();
  return store ? store.getItem(STORAGE_KEY) || '' : memoryKey;
}

export function saveKey(key) {
  const value = key.trim();
  const store = storage();
  if (store) {
    store.setItem(STORAGE_KEY, value);
  } else {
    memoryKey = value;
  }
  notify();
}

export function forgetKey() {
  memoryKey = '';
  const store = storage();
  if (store) {
    store.removeItem(STORAGE_KEY);
    store.removeItem(GRAPHIQL_HEADERS);
    const tabs = store.getItem(GRAPHIQL_TABS);
    if (tabs) {
      try {
        const state = JSON.parse(tabs);
        for (const tab of state.tabs || []) {
          tab.headers = null;
        }
        store.setItem(GRAPHIQL_TABS, JSON.stringify(state));
      } catch {
        store.removeItem(GRAPHIQL_TABS);
      }
    }
  }
  notify();
}

function subscribe(listener) {
  listeners.add(listener);
  window.addEventListener('storage', listener); // another tab saved or forgot the key
  return () => {
    listeners.delete(listener);
    window.removeEventListener('storage', listener);
  };
}

/** The stored key ('' when none), re-rendering when it is saved or forgotten. */
export function useApiKey() {
  return useSyncExternalStore(subscribe, readKey);
}

/**
 * Wraps a GraphiQL fetcher so every operation carries the stored key as REB-APIKEY: HTTP
 * requests as a header, subscriptions in the WebSocket's connection_init payload (the
 * toolkit sends the headers there). Credentials typed into the headers editor win.
 */
export function withApiKey(fetcher) {
  return (params, options) => {
    const headers = { ...(options?.headers || {}) };
    const credentialNames = [API_KEY_HEADER.toLowerCase(), 'authorization'];
    const own = Object.entries(headers).some(
      ([name, value]) => credentialNames.includes(name.toLowerCase()) && String(value).trim(),
    );
    const key = readKey();
    if (key && !own) {
      for (const name of Object.keys(headers)) {
        if (name.toLowerCase() === API_KEY_HEADER.toLowerCase()) {
          delete headers[name]; // an empty placeholder
        }
      }
      headers[API_KEY_HEADER] = key;
    }
    return fetcher(params, { ...options, headers });
  };
}
