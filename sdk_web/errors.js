/**
 * `StatesyncError`, and telling a server that is down from one that refuses the page's origin
 * (the browser reports both as the same "Failed to fetch").
 * @module statesync/errors
 */

/** An error from the server (or the connection), with its protocol `code`. */
export class StatesyncError extends Error {
  /**
   * @param {string} code  e.g. "invalid-event", "unavailable", "cors" (docs/protocol.md)
   * @param {string} message  what went wrong, without the code
   * @param {{path: (string|number)[], message: string}[]} [fields]  which fields of the
   *   event or input were invalid (validation errors), when the server says
   */
  constructor(code, message, fields = undefined) {
    super(message);
    this.name = "StatesyncError";
    this.code = code;
    if (fields) this.fields = fields;
  }
}

/**
 * Why `fetch(url)` failed without an answer: "cors" when the server answers but not to this
 * page's origin (a request without CORS reaches it), else "unavailable".
 * @param {string} method @param {string} url @param {Error} error  fetch's
 * @returns {Promise<StatesyncError>}
 */
export async function fetchFailure(method, url, error) {
  const target = new URL(url);
  if (target.origin !== location.origin && error?.name !== "TimeoutError") {
    try {
      await fetch(target.origin + "/statesync/manifest.json", {
        mode: "no-cors", signal: AbortSignal.timeout(5000) });
      return new StatesyncError("cors", `${target.origin} does not allow pages of ${location.origin}`
        + ` (CORS): start the server with --cors-origin ${location.origin}`);
    } catch {
      // unreachable as well: the server is down
    }
  }
  return new StatesyncError("unavailable", `${method} ${url}: ${error.message}`);
}
