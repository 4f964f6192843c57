/**
 * Others' changes without the Python runtime: before the handover to the worker's Python
 * client, and where no runtime can start (server-direct), the page's main thread holds its own
 * WebSocket to the server (`/v1/ws`, docs/protocol.md) and subscribes each followed instance
 * with `since` the seq it shows, so it hears every later update (per reader, in seq order),
 * also those committed while the socket was down: it reconnects with backoff and subscribes
 * again from the seq then shown. Light on purpose: one small JSON text per update.
 * @module statesync/direct
 */

import { retryDelay } from "./retry.js";

/**
 * An instance the feed follows (the client's adapter of a handle).
 * @typedef {object} Follower
 * @property {string} machine
 * @property {string} name
 * @property {() => number} seq  the seq it shows: updates after it are wanted
 * @property {(state: object) => void} update  a public state of the server (`update`)
 * @property {(event: {type: string}) => void} emitted  an event the machine emitted
 */

/** Codes that end one subscription for good (the instance stays as it is shown). */
const FINAL = new Set(["forbidden", "not-found", "invalid-message"]);

/** A WebSocket to the server, open while something is followed. */
export class DirectFeed {
  #url;
  #token;
  /** @type {WebSocket|undefined} */
  #socket;
  #authed = false;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  #reconnect;
  /** @type {Map<string, Follower>} by [machine, name] JSON */
  #followers = new Map();
  /** @type {Map<number, string>} subscribe requests not yet answered: id -> follower key */
  #requests = new Map();
  #ids = 0;
  /** Whether emitted events are passed on: not once the worker's client delivers them (the
   * handover), so none is heard twice. */
  emits = true;

  /**
   * @param {string} base  the server's origin
   * @param {(attempt: number) => Promise<string>|string} token  the token to authenticate
   *   with (`attempt` > 0: after a drop or a refusal, a fresh one may be needed)
   */
  constructor(base, token) {
    const url = new URL("/v1/ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.#url = url.href;
    this.#token = token;
  }

  /** Hear `follower`'s updates from now on (the socket opens if it is not). @param {Follower} follower */
  follow(follower) {
    const key = JSON.stringify([follower.machine, follower.name]);
    this.#followers.set(key, follower);
    if (this.#authed) this.#subscribe(key);
    else if (!this.#socket && this.#reconnect === undefined) this.#open();
  }

  /** Stop hearing `follower` (the socket closes once nothing is followed). @param {Follower} follower */
  unfollow(follower) {
    const key = JSON.stringify([follower.machine, follower.name]);
    if (this.#followers.get(key) !== follower) return;
    this.#followers.delete(key);
    if (!this.#followers.size) this.close();
    else if (this.#authed) {
      this.#send({ type: "unsubscribe", machine: follower.machine, instance: follower.name });
    }
  }

  /** Close the socket and follow nothing. */
  close() {
    this.#followers.clear();
    this.#drop();
  }

  #drop() {
    this.#reconnect = clearTimeout(this.#reconnect);
    this.#authed = false;
    this.#requests.clear();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close();
    }
  }

  #open() {
    const socket = this.#socket = new WebSocket(this.#url);
    const attempt = this.#attempt;
    socket.onopen = async () => {
      let token;
      try {
        token = await this.#token(attempt);
      } catch {
        return this.#retry();
      }
      if (this.#socket === socket) this.#send({ type: "auth", token, id: "auth" });
    };
    socket.onmessage = (message) => this.#receive(JSON.parse(message.data));
    socket.onclose = () => this.#retry();
  }

  /** Later, a new socket (while something is followed). */
  #retry() {
    this.#drop();
    if (!this.#followers.size) return;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      if (this.#followers.size) this.#open();
    }, retryDelay(this.#attempt++) * 1000);
  }

  /** @param {object} message */
  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  /** @param {string} key */
  #subscribe(key) {
    const follower = this.#followers.get(key);
    const id = ++this.#ids;
    this.#requests.set(id, key);
    this.#send({ type: "subscribe", machine: follower.machine, instance: follower.name,
      since: follower.seq(), id });
  }

  /** @param {any} message  a server message */
  #receive(message) {
    const key = JSON.stringify([message.machine, message.instance]);
    switch (message.type) {
      case "authed":
        this.#authed = true;
        this.#attempt = 0;
        for (const followed of this.#followers.keys()) this.#subscribe(followed);
        return;
      case "update": {
        const { type, machine, instance, ...state } = message;
        this.#followers.get(key)?.update(state);
        return;
      }
      case "emitted":
        if (this.emits) this.#followers.get(key)?.emitted(message.event);
        return;
      case "subscribed": // a later error names the instance
        this.#requests.delete(message.id);
        return undefined;
      case "error":
        return this.#error(message);
      default:
        return undefined; // unsubscribed: nothing to do
    }
  }

  /**
   * A refused request or an ended subscription: a refused token or an expired one
   * (`unauthenticated`) means a new socket with a fresh token; a subscription the server
   * ended for load (`rate-limited`, `unavailable`) is made again with `since`; one it refuses
   * (`forbidden`, `not-found`) is given up.
   * @param {{id?: any, code: string, machine?: string, instance?: string}} error
   */
  #error(error) {
    if (error.id === "auth" || error.code === "unauthenticated") return this.#socket?.close();
    const key = this.#requests.get(error.id) ?? (error.machine !== undefined
      ? JSON.stringify([error.machine, error.instance]) : undefined);
    this.#requests.delete(error.id);
    if (key === undefined || !this.#followers.has(key)) return undefined;
    if (FINAL.has(error.code)) {
      this.#followers.delete(key);
      if (!this.#followers.size) this.close();
      return undefined;
    }
    const socket = this.#socket;
    setTimeout(() => {
      if (this.#socket === socket && this.#authed && this.#followers.has(key)) this.#subscribe(key);
    }, retryDelay(0) * 1000);
    return undefined;
  }
}
