/**
 * What a page keeps in IndexedDB for one user of one server, so that nothing a user did is
 * lost to a reload, a crashed tab or an outage: the sends not yet confirmed (with their event
 * ids: sent again after a reload, the server applies each id once) and the last known state of
 * each instance and live query the page had open (shown at once by the next page, also
 * offline). Each user's records are apart (keyed by server and subject); `forgetUser` clears
 * them (signing out).
 *
 * One object store, `records`, keyed by `<user> \0 <kind> \0 <id>`: kind `o` an unsent event
 * (`{id, machine, name, event, at}`), `s` an instance's state (`{machine, name, state}`), `q`
 * a live query's items (`{query, items}`).
 * @module statesync/outbox
 */

const DATABASE = "statesync";
const STORE = "records";
const SEP = "\u0000";

/** @type {Promise<IDBDatabase|undefined>|undefined} */
let opening;

/** The database (undefined where there is no IndexedDB, e.g. some private modes). */
function database() {
  opening ??= new Promise((resolve) => {
    let request;
    try {
      request = indexedDB.open(DATABASE, 1);
    } catch {
      resolve(undefined);
      return;
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(undefined);
    request.onblocked = () => resolve(undefined);
  });
  return opening;
}

/** @param {IDBRequest|IDBTransaction} request @returns {Promise<any>} */
function done(request) {
  return new Promise((resolve, reject) => {
    if (request instanceof IDBTransaction) {
      request.oncomplete = () => resolve(undefined);
      request.onabort = request.onerror = () => reject(request.error);
    } else {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    }
  });
}

/** @param {string} base @param {string} subject */
function userKey(base, subject) {
  return JSON.stringify([base, subject]);
}

/** Every key of `prefix`. @param {string} prefix */
function range(prefix) {
  return IDBKeyRange.bound(prefix, `${prefix}\uffff`);
}

/**
 * One user's records on one server. Writes are queued and committed together (once per turn
 * of the event loop), in order; a failing write is reported and skipped (the page works on,
 * as without IndexedDB).
 */
export class Outbox {
  #db;
  #prefix;
  /** @type {Map<string, any>} key -> record to put (undefined: delete), not committed yet */
  #dirty = new Map();
  /** @type {Promise<void>|undefined} */
  #flushing;
  #order = 0;

  /** @param {IDBDatabase} db @param {string} base @param {string} subject */
  constructor(db, base, subject) {
    this.#db = db;
    this.#prefix = userKey(base, subject) + SEP;
  }

  /** @param {string} base @param {string} subject @returns {Promise<Outbox|undefined>} */
  static async open(base, subject) {
    const db = await database();
    return db && new Outbox(db, base, subject);
  }

  /** @param {"o"|"s"|"q"} kind @param {string} id */
  #key(kind, id) {
    return `${this.#prefix}${kind}${SEP}${id}`;
  }

  /** @param {string} key @param {any} record  undefined: delete */
  #write(key, record) {
    this.#dirty.set(key, record);
    this.#flushing ??= new Promise((resolve) => setTimeout(resolve, 0)).then(() => this.#flush());
  }

  async #flush() {
    const writes = [...this.#dirty];
    this.#dirty.clear();
    this.#flushing = undefined;
    try {
      const transaction = this.#db.transaction(STORE, "readwrite");
      const store = transaction.objectStore(STORE);
      for (const [key, record] of writes) {
        if (record === undefined) store.delete(key);
        else store.put(record, key);
      }
      await done(transaction);
    } catch (error) {
      console.warn("statesync: could not save to IndexedDB", error);
    }
  }

  /** Resolves once every write asked for so far is committed. */
  async saved() {
    while (this.#flushing) await this.#flushing;
  }

  /** An event sent and not yet confirmed. @param {string} id @param {string} machine
   * @param {string} name @param {object} event */
  add(id, machine, name, event) {
    this.#write(this.#key("o", id), { id, machine, name, event, at: Date.now(), n: ++this.#order });
  }

  /** The event was confirmed or refused by the server. @param {string} id */
  remove(id) {
    this.#write(this.#key("o", id), undefined);
  }

  /** @param {string} machine @param {string} name @param {object} state  the visible one */
  saveState(machine, name, state) {
    this.#write(this.#key("s", JSON.stringify([machine, name])), { machine, name, state });
  }

  /** @param {string} query  the query's JSON @param {object[]} items */
  saveItems(query, items) {
    this.#write(this.#key("q", query), { query, items });
  }

  /** @param {string} key @returns {Promise<any>} */
  async #read(key) {
    await this.saved();
    try {
      return await done(this.#db.transaction(STORE).objectStore(STORE).get(key));
    } catch {
      return undefined;
    }
  }

  /** @returns {Promise<object|undefined>} the last state saved */
  async state(machine, name) {
    return (await this.#read(this.#key("s", JSON.stringify([machine, name]))))?.state;
  }

  /** @param {string} query @returns {Promise<object[]|undefined>} the last items saved */
  async items(query) {
    return (await this.#read(this.#key("q", query)))?.items;
  }

  /** @returns {Promise<{id: string, machine: string, name: string, event: object}[]>} the
   * unsent events, oldest first */
  async unsent() {
    await this.saved();
    try {
      const records = await done(this.#db.transaction(STORE).objectStore(STORE)
        .getAll(range(`${this.#prefix}o${SEP}`)));
      return records.sort((a, b) => a.at - b.at || a.n - b.n);
    } catch {
      return [];
    }
  }

  /** Delete every record of this user (signing out). */
  async clear() {
    this.#dirty.clear();
    await this.saved();
    const transaction = this.#db.transaction(STORE, "readwrite");
    transaction.objectStore(STORE).delete(range(this.#prefix));
    await done(transaction);
  }
}
