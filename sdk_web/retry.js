/**
 * Retrying what needs the server while it cannot be reached: exponential backoff with jitter,
 * capped, forever (as the Python client's `Backoff`).
 * @module statesync/retry
 */

const INITIAL = 0.5; // seconds
const FACTOR = 2;
const MAX_DELAY = 5;
const JITTER = 0.5; // each delay is scaled by a random factor in [1 - JITTER/2, 1 + JITTER/2)

/** Seconds to wait before retry number `attempt` (0 first). @param {number} attempt */
export function retryDelay(attempt) {
  const delay = Math.min(MAX_DELAY, INITIAL * FACTOR ** attempt);
  return delay * (1 - JITTER / 2 + Math.random() * JITTER);
}

/** @param {number} seconds @returns {Promise<void>} */
export function sleep(seconds) {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** Whether an error means "the server could not be reached" (worth retrying). @param {any} error */
export function unreachable(error) {
  return error?.code === "unavailable";
}

/** A random event id (32 hex digits; also where `crypto.randomUUID` is missing). */
export function eventId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The subject (`sub`) a JWT claims, read without checking it (to find the user's saved data
 * while the server cannot check the token); undefined if it is not a JWT.
 * @param {string} token
 */
export function claimedSubject(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")))?.sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}
