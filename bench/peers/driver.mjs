// One load driver for statesync and its live-sync peers (bench/peers.py runs it).
//
//   node driver.mjs '{"protocol": "statesync" | "y-websocket" | "hocuspocus", "url": ..., "pid": ...}'
//
// The same workload in each protocol: `clients` writer connections, each writing its own
// counter (a statesync `counter` instance / a Y.Doc whose map key "count" is set to n for the
// n-th update), and one observer connection subscribed to all of them (y-websocket: one
// socket per document, its protocol has one document per socket). An update is "done" when
// the server confirms it:
//   statesync    the `ack` (sent only after the commit, synchronous=FULL);
//   peers        the observer seeing it: they do not acknowledge durability, they broadcast
//                first and persist afterwards (y-websocket: each update to LevelDB, unsynced;
//                Hocuspocus: the whole document to SQLite after a 2 s debounce).
// Phases: `idle` (server RSS over N idle subscribed connections), `saturated` (each writer
// keeps `window` updates not done), `paced` (`rate` updates/s in total, spread evenly).
// Latency is always send -> the observer's copy; server CPU from /proc/<pid>/stat.
// Prints one JSON object on stdout.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import WebSocket from "ws";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";

const config = JSON.parse(process.argv[2]);
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server process -----------------------------------------------------------------

function serverCpuSeconds() {
  const stat = readFileSync(`/proc/${config.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / config.clockTicks;
}

function serverRssKb() {
  const status = readFileSync(`/proc/${config.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

// --- sockets ------------------------------------------------------------------------------

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** Resolves with the first message for which `test` returns a value other than undefined. */
function waitFor(ws, test, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reply in time")), timeoutMs);
    const listener = (data) => {
      const found = test(data);
      if (found !== undefined) {
        clearTimeout(timer);
        ws.off("message", listener);
        resolve(found);
      }
    };
    ws.on("message", listener);
  });
}

function closeAll(sockets) {
  for (const ws of sockets) ws.terminate();
}

// --- statesync: JSON over /v1/ws (docs/protocol.md) ---------------------------------------

function base64url(value) {
  return Buffer.from(value).toString("base64url");
}

function token(sub) {
  const iat = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = base64url(
    JSON.stringify({ sub, iat, exp: iat + 3600, aud: "statesync", iss: "statesync" }),
  );
  const signature = createHmac("sha256", config.secret).update(`${header}.${claims}`).digest();
  return `${header}.${claims}.${base64url(signature)}`;
}

const statesync = {
  confirmsItself: true,

  async connect(sub) {
    const ws = await open(`${config.url}/v1/ws`);
    const authed = waitFor(ws, (data) => (JSON.parse(data).type === "authed" ? true : undefined));
    ws.send(JSON.stringify({ type: "auth", token: token(sub) }));
    await authed;
    return ws;
  },

  async request(ws, message, replyType) {
    const reply = waitFor(ws, (data) => {
      const parsed = JSON.parse(data);
      if (parsed.id !== message.id) return undefined;
      if (parsed.type !== replyType) throw new Error(`${message.type}: ${data}`);
      return parsed;
    });
    ws.send(JSON.stringify(message));
    return reply;
  },

  async subscribe(ws, name) {
    const current = waitFor(ws, (data) => {
      const parsed = JSON.parse(data);
      return parsed.type === "update" && parsed.instance === name ? true : undefined;
    });
    await this.request(
      ws, { type: "subscribe", id: `s-${name}`, machine: "counter", instance: name }, "subscribed",
    );
    await current;
  },

  async writer(name, confirmed) {
    const ws = await this.connect(`writer-${name}`);
    await this.request(
      ws,
      { type: "create", id: `c-${name}`, machine: "counter", instance: name, if_exists: "get" },
      "created",
    );
    ws.on("message", (data) => {
      const type = JSON.parse(data).type;
      if (type === "ack") confirmed(false);
      else if (type === "reject") confirmed(true);
    });
    return {
      ws,
      send(n) {
        ws.send(JSON.stringify({
          type: "send", machine: "counter", instance: name, event: { type: "INC" },
          event_id: `${name}-${n}`,
        }));
      },
    };
  },

  async observer(names, seen) {
    const ws = await this.connect("observer");
    for (const name of names) await this.subscribe(ws, name);
    const index = new Map(names.map((name, i) => [name, i]));
    ws.on("message", (data) => {
      const message = JSON.parse(data);
      if (message.type === "update") seen(index.get(message.instance), message.context.count);
    });
    return [ws];
  },

  async idle(name) {
    let count = 0;
    const setup = await this.connect("idle-setup");
    await this.request(
      setup,
      { type: "create", id: "c", machine: "counter", instance: name, if_exists: "get" },
      "created",
    );
    setup.terminate();
    return () => this.connect(`idle-${(count += 1)}`).then(async (ws) => {
      await this.subscribe(ws, name);
      return ws;
    });
  },
};

// --- Yjs peers: y-protocols sync messages -------------------------------------------------

const SYNC = 0; // both protocols' message type for y-protocols sync messages
const HOCUSPOCUS_AUTH = 2;
const HOCUSPOCUS_SYNC_REPLY = 4;

/** A Y.Doc whose map key "count" is set to n by the n-th update. */
function counterDoc() {
  const doc = new Y.Doc();
  return { doc, map: doc.getMap("counter") };
}

/** Frames for one document: y-websocket has none of its own, Hocuspocus names the document. */
function framing(protocol, name) {
  return (write) => {
    const encoder = encoding.createEncoder();
    if (protocol === "hocuspocus") encoding.writeVarString(encoder, name);
    write(encoder);
    return encoding.toUint8Array(encoder);
  };
}

function yjsPeer(protocol) {
  const hocuspocus = protocol === "hocuspocus";

  /** Joins document `name` on `ws`: Hocuspocus authenticates it first; then sync step 1,
   *  answered with the server's step 2. */
  async function join(ws, name, doc) {
    const frame = framing(protocol, name);
    const reply = (wanted) => waitFor(ws, (data) => {
      const decoder = decoding.createDecoder(new Uint8Array(data));
      if (hocuspocus && decoding.readVarString(decoder) !== name) return undefined;
      return wanted(decoder) ? true : undefined;
    });
    if (hocuspocus) {
      const authed = reply((d) => decoding.readVarUint(d) === HOCUSPOCUS_AUTH);
      ws.send(frame((e) => {
        encoding.writeVarUint(e, HOCUSPOCUS_AUTH);
        encoding.writeVarUint(e, 0); // a token follows
        encoding.writeVarString(e, "bench");
      }));
      await authed;
    }
    const synced = reply((d) => {
      const type = decoding.readVarUint(d);
      return (type === SYNC || type === HOCUSPOCUS_SYNC_REPLY) &&
        decoding.readVarUint(d) === syncProtocol.messageYjsSyncStep2;
    });
    ws.send(frame((e) => {
      encoding.writeVarUint(e, SYNC);
      syncProtocol.writeSyncStep1(e, doc);
    }));
    await synced;
  }

  /** Applies the sync messages of document `name` arriving on `ws` to `doc`, answering them. */
  function follow(ws, docs) {
    ws.on("message", (data) => {
      const decoder = decoding.createDecoder(new Uint8Array(data));
      const name = hocuspocus ? decoding.readVarString(decoder) : docs.keys().next().value;
      const doc = docs.get(name);
      const type = decoding.readVarUint(decoder);
      if (doc === undefined || (type !== SYNC && type !== HOCUSPOCUS_SYNC_REPLY)) return;
      const frame = framing(protocol, name);
      let answered = false;
      const answer = frame((e) => {
        encoding.writeVarUint(e, SYNC);
        const before = encoding.length(e);
        syncProtocol.readSyncMessage(decoder, e, doc, "server");
        answered = encoding.length(e) > before;
      });
      if (answered) ws.send(answer);
    });
  }

  const url = (name) => (hocuspocus ? config.url : `${config.url}/${name}`);

  return {
    confirmsItself: false,

    async writer(name) {
      const ws = await open(url(name));
      const { doc, map } = counterDoc();
      await join(ws, name, doc);
      const frame = framing(protocol, name);
      doc.on("update", (update, origin) => {
        if (origin === "server") return;
        ws.send(frame((e) => {
          encoding.writeVarUint(e, SYNC);
          syncProtocol.writeUpdate(e, update);
        }));
      });
      follow(ws, new Map([[name, doc]])); // the server's copy of its own updates
      return { ws, send: (n) => map.set("count", n) };
    },

    async observer(names, seen) {
      const docs = new Map();
      names.forEach((name, i) => {
        const { doc, map } = counterDoc();
        map.observe(() => seen(i, map.get("count")));
        docs.set(name, doc);
      });
      if (hocuspocus) {
        const ws = await open(config.url);
        for (const [name, doc] of docs) await join(ws, name, doc);
        follow(ws, docs);
        return [ws];
      }
      const sockets = [];
      for (const [name, doc] of docs) {
        const ws = await open(url(name));
        await join(ws, name, doc);
        follow(ws, new Map([[name, doc]]));
        sockets.push(ws);
      }
      return sockets;
    },

    async idle(name) {
      return async () => {
        const ws = await open(url(name));
        await join(ws, name, new Y.Doc());
        return ws;
      };
    },
  };
}

const protocols = {
  statesync,
  "y-websocket": yjsPeer("y-websocket"),
  hocuspocus: yjsPeer("hocuspocus"),
};

// --- phases ---------------------------------------------------------------------------------

function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Writers and an observer; saturated when `rate` is null, else paced at `rate` in total. */
async function load(protocol, tag, { clients, window, seconds, rate }) {
  const names = Array.from({ length: clients }, (_, i) => `${tag}-${i}`);
  const sentAt = names.map(() => [0]); // sentAt[i][n]: when writer i sent its n-th update
  const observedUpTo = names.map(() => 0);
  const latencies = []; // send -> the observer's copy
  const doneLatencies = []; // send -> done (statesync: the ack)
  const doneUpTo = names.map(() => 0);
  const inFlight = names.map(() => 0);
  const due = names.map(() => 0);
  let done = 0;
  let rejects = 0;
  let sending = false;
  const writers = [];

  const pump = (i) => {
    while (sending && inFlight[i] < window && (rate === null || due[i] > 0)) {
      inFlight[i] += 1;
      if (rate !== null) due[i] -= 1;
      const n = sentAt[i].length;
      sentAt[i].push(now());
      writers[i].send(n);
    }
  };
  const complete = (i) => {
    doneUpTo[i] += 1; // each writer's updates are done in the order they were sent
    doneLatencies.push(now() - sentAt[i][doneUpTo[i]]);
    inFlight[i] -= 1;
    done += 1;
    pump(i);
  };
  const seen = (i, value) => {
    const at = now();
    for (let n = observedUpTo[i] + 1; n <= value; n += 1) {
      latencies.push(at - sentAt[i][n]);
      if (!protocol.confirmsItself) complete(i);
    }
    observedUpTo[i] = Math.max(observedUpTo[i], value);
  };
  for (const [i, name] of names.entries()) {
    writers.push(await protocol.writer(name, (rejected) => {
      if (rejected) rejects += 1;
      complete(i);
    }));
  }
  const observerSockets = await protocol.observer(names, seen);

  const cpuBefore = serverCpuSeconds();
  const driverCpuBefore = process.cpuUsage();
  const start = now();
  sending = true;
  const timers = [];
  if (rate === null) {
    names.forEach((_, i) => pump(i));
  } else {
    const interval = (1000 * clients) / rate;
    names.forEach((_, i) => {
      let nextAt = start + (interval * i) / clients;
      const tick = () => {
        if (!sending) return;
        due[i] += 1;
        pump(i);
        nextAt += interval;
        timers[i] = setTimeout(tick, Math.max(0, nextAt - now()));
      };
      timers[i] = setTimeout(tick, Math.max(0, nextAt - now()));
    });
  }
  await sleep(1000 * seconds);
  sending = false;
  timers.forEach(clearTimeout);
  const drainBy = now() + 10_000;
  while (inFlight.some((n) => n > 0) && now() < drainBy) await sleep(1);
  const elapsed = (now() - start) / 1000;
  const cpu = serverCpuSeconds() - cpuBefore;
  const driverCpu = process.cpuUsage(driverCpuBefore);
  const observed = latencies.length;
  const sent = sentAt.reduce((sum, times) => sum + times.length - 1, 0);
  await sleep(300); // stragglers reach the observer (statesync: the update follows the ack)
  const lost = sent - latencies.length;
  closeAll([...writers.map((w) => w.ws), ...observerSockets]);
  return {
    clients,
    window,
    target_per_s: rate,
    sent,
    done,
    rejects,
    updates_per_s: done / elapsed,
    observed_per_s: observed / elapsed,
    lost,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    done_p50_ms: percentile(doneLatencies, 50),
    done_p99_ms: percentile(doneLatencies, 99),
    server_cpu_share: cpu / elapsed,
    server_cpu_us_per_update: observed ? (1e6 * cpu) / observed : null,
    driver_cpu_us_per_update: observed ? (driverCpu.user + driverCpu.system) / observed : null,
  };
}

/** Server RSS growth per connection over `count` idle connections joined to one document. */
async function idle(protocol, count) {
  const connect = await protocol.idle("idle");
  const sockets = [];
  const openSome = async (n) => {
    for (let done = 0; done < n; done += 25) {
      const batch = Math.min(25, n - done);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => connect()))));
    }
  };
  await openSome(10); // the first connections' one-time costs (the document, lazy imports)
  await sleep(500);
  const before = serverRssKb();
  await openSome(count);
  await sleep(1000);
  const after = serverRssKb();
  closeAll(sockets);
  await sleep(500);
  return { connections: count, rss_before_kb: before, rss_after_kb: after,
           kb_per_connection: (after - before) / count };
}

const protocol = protocols[config.protocol];
const result = { protocol: config.protocol };
result.idle = await idle(protocol, config.idleConnections);
result.saturated = await load(protocol, "sat", { ...config, rate: null });
result.paced = await load(protocol, "paced", { ...config, seconds: config.pacedSeconds });
console.log(JSON.stringify(result));
process.exit(0);
