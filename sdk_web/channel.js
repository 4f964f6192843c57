/**
 * Calls and events between a page and the statesync worker, over a `MessagePort`, a `Worker`
 * or a dedicated worker's global scope (both sides use this class).
 *
 *   {id, op, args}                         a call, answered by
 *   {reply: id, value} | {reply: id, error: {code, message, fields?}}
 *   {op, args}                             an event (no answer)
 *
 * Messages keep their order: events a call's handler posts arrive before its answer.
 * @module statesync/channel
 */

/**
 * @typedef {object} RemoteError  how a failed call rejects
 * @property {string} code      a protocol error code (docs/protocol.md)
 * @property {string} message
 * @property {{path: (string|number)[], message: string}[]} [fields]  invalid fields (validation)
 */

export class Channel {
  #port;
  #handle;
  #next = 0;
  /** @type {Map<number, {resolve: (value: any) => void, reject: (error: RemoteError) => void}>} */
  #calls = new Map();

  /**
   * @param {{postMessage: (message: any) => void, onmessage: any}} port
   * @param {(op: string, args: any) => any} handle  answers calls (its value, or a Promise of
   *   it; a thrown error's `code` and `message` go back) and receives events
   */
  constructor(port, handle) {
    this.#port = port;
    this.#handle = handle;
    port.onmessage = (event) => this.#receive(event.data); // also starts a MessagePort
  }

  /** @param {string} op @param {any} [args] @returns {Promise<any>} rejects with a `RemoteError` */
  call(op, args) {
    const id = ++this.#next;
    const answer = new Promise((resolve, reject) => this.#calls.set(id, { resolve, reject }));
    this.#port.postMessage({ id, op, args });
    return answer;
  }

  /** @param {string} op @param {any} [args] */
  notify(op, args) {
    this.#port.postMessage({ op, args });
  }

  /** @param {any} message */
  async #receive(message) {
    if ("reply" in message) {
      const call = this.#calls.get(message.reply);
      this.#calls.delete(message.reply);
      if ("error" in message) call?.reject(message.error);
      else call?.resolve(message.value);
      return;
    }
    if (message.id === undefined) {
      this.#handle(message.op, message.args);
      return;
    }
    try {
      const value = await this.#handle(message.op, message.args);
      this.#port.postMessage({ reply: message.id, value });
    } catch (error) {
      const code = typeof error?.code === "string" ? error.code : "unavailable";
      const fields = Array.isArray(error?.fields) ? { fields: error.fields } : {};
      this.#port.postMessage({ reply: message.id,
        error: { code, message: String(error?.message ?? error), ...fields } });
    }
  }
}
