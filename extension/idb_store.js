// A key-value store over IndexedDB with chrome.storage.local's surface (get / set / remove),
// so the recorder's queue survives service-worker and browser restarts without the
// chrome.storage quota and serialization costs. Each set() is one transaction: an event
// and the session's next seq are written together or not at all.

const STORE = 'kv';

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

export class IdbStore {
  #db;

  /** `indexedDB` is injectable for tests; `name` is the database. */
  constructor(name = 'codesight', { indexedDB = globalThis.indexedDB } = {}) {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    this.#db = request(open).then((db) => {
      // Another context upgrading the database (a newer extension version) closes this one cleanly.
      db.onversionchange = () => db.close();
      return db;
    });
  }

  /** Values by key: `null` for everything, a key, or a list of keys (missing keys are left out). */
  async get(keys) {
    const db = await this.#db;
    const tx = db.transaction(STORE, 'readonly');
    const store = tx.objectStore(STORE);
    const out = {};
    if (keys === null || keys === undefined) {
      const [allKeys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
      allKeys.forEach((k, i) => { out[k] = values[i]; });
      return out;
    }
    for (const key of [].concat(keys)) {
      const value = await request(store.get(key));
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  /** Write every item in one transaction, flushed to disk before it resolves. */
  async set(items) {
    const db = await this.#db;
    const tx = db.transaction(STORE, 'readwrite', { durability: 'strict' });
    const store = tx.objectStore(STORE);
    for (const [key, value] of Object.entries(items)) store.put(value, key);
    await done(tx);
  }

  async remove(keys) {
    const db = await this.#db;
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const key of [].concat(keys)) store.delete(key);
    await done(tx);
  }
}
