#!/usr/bin/env node
// Reference runner for statesync's differential tests (tests/differential/).
//
// stdin:  a JSON array of cases (or, with --serve, one such array per line) {"config": <XState JSON config>, "input": <any>,
//         "steps": [{"type": "EV", ...payload} | {"advance": ms}]}
// stdout: a JSON array, one entry per case: {"observations": [obs, ...]} where obs is
//         {"value", "context", "tags", "status", "output", "effects"} after start and after
//         every step, or {"error": "..."} for the step that failed (later steps are not run),
//         or {"error": "..."} for the whole case when the machine cannot even be built.
//
// Each case runs a real actor (createActor + SimulatedClock), so delayed events, cancels and
// the actor's own bookkeeping (stop on done, cancel all timers) are XState's, not ours.
//
// Configs are pure JSON; implementations come from a small vocabulary shared with
// tests/differential/vocab.py (keep the two in sync; the vocabulary is documented there).
'use strict';

const path = require('path');
const {
  createMachine, createActor, SimulatedClock, assign, raise, cancel, and, or, not, stateIn,
  emit, log, enqueueActions, setup, sendParent, sendTo, forwardTo, spawnChild, stopChild,
} = require(path.join(__dirname, 'node_modules', 'xstate'));

const MAX_ITERATIONS = 1000;
const NAMED_DELAYS = {
  short: 50,
  long: 200,
  dyn: ({ context }) => ((context && context.count) || 0) * 10 + 10,
};

// ---------------------------------------------------------------------------------------------
// Vocabulary

function actionImpl(name, record) {
  if (name === 'inc') return assign(({ context }) => ({ count: (context.count ?? 0) + 1 }));
  // modulo 10^6: counts stay exact integers in JS (a 2x+1 loop must not settle by rounding)
  if (name === 'dbl') return assign(({ context }) => ({ count: ((context.count ?? 0) * 2) % 1000000 }));
  if (name === 'add') return assign(({ context }, params) => ({ count: (context.count ?? 0) + params.n }));
  if (name === 'setv') return assign(({ event }) => ({ v: event.value ?? null }));
  if (name === 'outv') return assign(({ event }) => ({ v: event.output ?? null }));
  if (name === 'outk') return assign(({ event }) => ({ v: event.output === undefined ? 'absent' : event.output }));
  if (name === 'fromInput') return assign(({ event }) => ({ inp: event.input ?? null }));
  if (name.startsWith('push:')) {
    const item = name.slice(5);
    return assign(({ context }) => ({ log: [...(context.log ?? []), item] }));
  }
  if (name.startsWith('raise:')) return raise({ type: name.slice(6) });
  if (name.startsWith('raiseDelayed:')) {
    const [, type, delay, id] = name.split(':');
    const opts = { delay: Number.isNaN(+delay) ? delay : +delay };
    if (id !== undefined) opts.id = id;
    return raise({ type }, opts);
  }
  if (name.startsWith('cancel:')) return cancel(name.slice(7));
  if (name.startsWith('emit:')) return emit({ type: name.slice(5) });
  if (name.startsWith('emitCount:')) {
    const type = name.slice(10);
    return emit(({ context }) => ({ type, count: context.count ?? null }));
  }
  if (name === 'emitParams') return emit((_, params) => ({ ...params }));
  if (name.startsWith('log:')) return log(({ context }) => context.count ?? null, name.slice(4));
  if (name === 'logAll') return log();
  if (name.startsWith('sendParent:')) return sendParent({ type: name.slice(11) });
  if (name.startsWith('sendParentCount:')) {
    const type = name.slice(16);
    return sendParent(({ context }) => ({ type, count: context.count ?? null }));
  }
  if (name.startsWith('sendTo:')) {
    const [, id, type] = name.split(':');
    return sendTo(id, { type });
  }
  if (name.startsWith('forwardTo:')) return forwardTo(name.slice(10));
  if (name.startsWith('spawn:')) {
    const [, src, id] = name.split(':');
    return spawnChild(src, { id });
  }
  if (name.startsWith('stopChild:')) return stopChild(name.slice(10));
  // issue 22: computed ids, delayed sends, self, the system registry, syncSnapshot
  const countId = ({ context }) => `k${context.count ?? 0}`;
  if (name.startsWith('spawnAt:')) return spawnChild(name.slice(8), { id: countId });
  if (name.startsWith('sendToAt:')) return sendTo(countId, { type: name.slice(9) });
  if (name === 'stopChildAt') return stopChild(countId);
  if (name.startsWith('sendToDelayed:')) {
    const [, id, type, delay, sendId] = name.split(':');
    return sendTo(id, { type }, sendOptions(delay, sendId));
  }
  if (name.startsWith('sendSelf:')) return sendTo(({ self }) => self, { type: name.slice(9) });
  if (name.startsWith('sendSelfDelayed:')) {
    const [, type, delay, sendId] = name.split(':');
    return sendTo(({ self }) => self, { type }, sendOptions(delay, sendId));
  }
  if (name.startsWith('sendInternal:')) return sendTo('#_internal', { type: name.slice(13) });
  if (name.startsWith('spawnSystem:')) {
    const [, src, id, systemId] = name.split(':');
    return spawnChild(src, { id, systemId });
  }
  if (name.startsWith('sendSystem:')) {
    const [, systemId, type] = name.split(':');
    return sendTo(({ system }) => system.get(systemId), { type });
  }
  if (name.startsWith('spawnSync:')) {
    const [, src, id] = name.split(':');
    return spawnChild(src, { id, syncSnapshot: true });
  }
  if (name === 'enqAddTwice') {
    return enqueueActions(({ enqueue }, params) => {
      enqueue({ type: 'add', params });
      enqueue({ type: 'add', params });
    });
  }
  if (name.startsWith('peek')) {
    return ({ context, event }) => record(`${name}:${context ? (context.count ?? null) : null}:${event.type}`);
  }
  return () => record(name);
}

function sendOptions(delay, sendId) {
  const opts = { delay: Number.isNaN(+delay) ? delay : +delay };
  if (sendId !== undefined) opts.id = sendId;
  return opts;
}

function guardImpl(name) {
  if (name === 'even') return ({ context }) => (context.count ?? 0) % 2 === 0;
  if (name === 'odd') return ({ context }) => (context.count ?? 0) % 2 === 1;
  if (name === 'flag') return ({ event }) => Boolean(event.flag);
  if (name === 'gt') return ({ context }, params) => (context.count ?? 0) > params.n;
  if (name.startsWith('lt:')) return ({ context }) => (context.count ?? 0) < +name.slice(3);
  if (name.startsWith('gt:')) return ({ context }) => (context.count ?? 0) > +name.slice(3);
  throw new Error(`unknown vocabulary guard: ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Config translation: collect names, turn composite guard objects into xstate guard helpers.

function toList(x) {
  if (x === undefined || x === null) return [];
  return Array.isArray(x) ? x : [x];
}

function translateGuard(g, guardNames) {
  if (typeof g === 'string') { guardNames.add(g); return g; }
  if (g && typeof g === 'object') {
    if ('and' in g) return and(g.and.map((x) => translateGuard(x, guardNames)));
    if ('or' in g) return or(g.or.map((x) => translateGuard(x, guardNames)));
    if ('not' in g) return not(translateGuard(g.not, guardNames));
    if ('stateIn' in g) return stateIn(g.stateIn);
    if ('type' in g) { guardNames.add(g.type); return g; }
  }
  throw new Error(`bad guard ${JSON.stringify(g)}`);
}

// Action names the vocabulary's own implementations enqueue (their implementations are needed too).
const ENQUEUES = { enqAddTwice: ['add'] };

function collectActions(a, actionNames) {
  for (const item of toList(a)) {
    if (typeof item === 'object' && 'enqueue' in item) {
      collectProgram(item.enqueue, actionNames);
      continue;
    }
    if (typeof item === 'object' && ('emit' in item || 'log' in item)) continue;
    const name = typeof item === 'string' ? item : item.type;
    actionNames.add(name);
    for (const inner of ENQUEUES[name] ?? []) actionNames.add(inner);
  }
  return a;
}

// An `{"enqueue": [...]}` program (see tests/differential/vocab.py) becomes enqueueActions.
function collectProgram(items, actionNames) {
  for (const item of items) {
    if (typeof item === 'string' || 'type' in item) collectActions(item, actionNames);
    else if ('if' in item) {
      collectProgram(item.then ?? [], actionNames);
      collectProgram(item.else ?? [], actionNames);
    } else if ('repeat' in item) collectProgram(item.repeat, actionNames);
    else if ('enqueue' in item) collectProgram(item.enqueue, actionNames);
  }
}

function translateProgram(items, names) {
  const steps = items.map((item) => {
    if (typeof item === 'string' || 'type' in item) return ({ enqueue }) => enqueue(item);
    if ('if' in item) {
      const guard = translateGuard(item.if, names.guards);
      const then = translateProgram(item.then ?? [], names);
      const otherwise = translateProgram(item.else ?? [], names);
      return (args) => (args.check(guard) ? then(args) : otherwise(args));
    }
    if ('assign' in item) return ({ enqueue }) => enqueue.assign(item.assign);
    if ('raise' in item) {
      const opts = {};
      if (item.delay !== undefined) opts.delay = item.delay;
      if (item.id !== undefined) opts.id = item.id;
      return ({ enqueue }) => enqueue.raise({ type: item.raise }, opts);
    }
    if ('cancel' in item) return ({ enqueue }) => enqueue.cancel(item.cancel);
    if ('sendSelf' in item) return ({ enqueue, self }) => enqueue.sendTo(self, { type: item.sendSelf });
    if ('emit' in item) return ({ enqueue }) => enqueue.emit(item.emit);
    if ('log' in item) return ({ enqueue }) => enqueue(log(({ context }) => context.count ?? null, item.log)); // XState's enqueue has no .log
    if ('repeat' in item) {
      const body = translateProgram(item.repeat, names);
      return (args) => { for (let i = 0; i < (args.context.count ?? 0); i += 1) body(args); };
    }
    if ('enqueue' in item) {
      const inner = translateActions({ enqueue: item.enqueue }, names);
      return ({ enqueue }) => enqueue(inner);
    }
    throw new Error(`bad enqueue item ${JSON.stringify(item)}`);
  });
  return (args) => { for (const step of steps) step(args); };
}

// Actions of a config: `{"enqueue": [...]}` items become enqueueActions, the rest stay names.
function translateActions(a, names) {
  collectActions(a, names.actions);
  if (a === undefined) return a;
  const one = (item) => {
    if (typeof item !== 'object') return item;
    if ('emit' in item) return emit(item.emit);
    if ('log' in item) return log(item.log.value, item.log.label);
    if (!('enqueue' in item)) return item;
    const program = translateProgram(item.enqueue, names);
    return enqueueActions((args) => program(args));
  };
  return Array.isArray(a) ? a.map(one) : one(a);
}

function translateTransitions(t, names) {
  if (t === undefined) return t;
  const one = (x) => {
    if (typeof x === 'string') return x;
    const out = { ...x };
    if (out.guard !== undefined) out.guard = translateGuard(out.guard, names.guards);
    if (out.actions !== undefined) out.actions = translateActions(out.actions, names);
    return out;
  };
  return Array.isArray(t) ? t.map(one) : one(t);
}

function translateOutput(o) {
  if (o === '$context') return ({ context }) => context;
  if (o === '$event') return ({ event }) => event;
  return o;
}

function translateNode(node, names) {
  const out = { ...node };
  if (out.entry !== undefined) out.entry = translateActions(out.entry, names);
  if (out.exit !== undefined) out.exit = translateActions(out.exit, names);
  if (out.on) {
    out.on = Object.fromEntries(
      Object.entries(out.on).map(([k, v]) => [k, translateTransitions(v, names)]),
    );
  }
  if (out.after) {
    out.after = Object.fromEntries(
      Object.entries(out.after).map(([k, v]) => [k, translateTransitions(v, names)]),
    );
  }
  if (out.always !== undefined) out.always = translateTransitions(out.always, names);
  if (out.onDone !== undefined) out.onDone = translateTransitions(out.onDone, names);
  if (out.output !== undefined) out.output = translateOutput(out.output);
  if (out.invoke !== undefined) out.invoke = toList(out.invoke).map((i) => translateInvoke(i, names));
  if (out.states) {
    out.states = Object.fromEntries(
      Object.entries(out.states).map(([k, v]) => [k, translateNode(v, names)]),
    );
  }
  return out;
}

function translateInvoke(invoke, names) {
  const out = { ...invoke };
  if (out.onDone !== undefined) out.onDone = translateTransitions(out.onDone, names);
  if (out.onError !== undefined) out.onError = translateTransitions(out.onError, names);
  if (out.onSnapshot !== undefined) out.onSnapshot = translateTransitions(out.onSnapshot, names);
  if (out.input === '$context') out.input = ({ context }) => context;
  return out;
}

// A case's `implementations` ({"guards": {name: alias | guard object}, "actions": {name:
// vocabulary name}, "delays": {name: ms}}) are passed as they are (guards) or as the named
// vocabulary implementation (actions), so that XState resolves guard aliases itself.
function guardImplementations(guardNames, provided) {
  const guards = {};
  const pending = [...guardNames];
  while (pending.length) {
    const name = pending.pop();
    if (name in guards) continue;
    if (provided && name in provided) {
      const raw = provided[name];
      if (typeof raw === 'string' || 'type' in raw) {
        guards[name] = raw;
        pending.push(typeof raw === 'string' ? raw : raw.type);
      } else { // a composite guard of the vocabulary ({"and": [...]}, {"not": ...}, ...)
        const inner = new Set();
        guards[name] = translateGuard(raw, inner);
        pending.push(...inner);
      }
    } else {
      guards[name] = guardImpl(name);
    }
  }
  return guards;
}

function implementations(actionNames, guardNames, provided, record) {
  const actions = {};
  for (const name of actionNames) {
    const vocabularyName = (provided.actions ?? {})[name] ?? name;
    actions[name] = actionImpl(vocabularyName, record);
  }
  const guards = guardImplementations(guardNames, provided.guards);
  return { actions, guards, delays: { ...(provided.delays ?? {}) } };
}

// `c.build === 'setup'`: setup(implementations).createMachine(config); `c.provide` (same shape
// as `implementations`) is then given with machine.provide(...).
function buildMachine(c, record) {
  const names = { actions: new Set(), guards: new Set() };
  const config = translateNode(c.config, names);
  if (config.context === '$input') config.context = ({ input }) => ({ ...(input ?? {}) });
  config.options = { ...(config.options ?? {}), maxIterations: MAX_ITERATIONS };
  const impls = implementations(names.actions, names.guards, c.implementations ?? {}, record);
  impls.delays = { ...NAMED_DELAYS, ...impls.delays };
  // `c.actors`: {src: case} child machines (tests/differential/vocab.py)
  impls.actors = Object.fromEntries(
    Object.entries(c.actors ?? {}).map(([src, child]) => [src, buildMachine(child, record)]));
  let machine = c.build === 'setup' ? setup(impls).createMachine(config) : createMachine(config, impls);
  if (c.provide) {
    const p = c.provide;
    machine = machine.provide(implementations(
      Object.keys(p.actions ?? {}), new Set(Object.keys(p.guards ?? {})), p, record));
  }
  return machine;
}

// ---------------------------------------------------------------------------------------------
// Running a case

function jsonSafe(x) {
  return x === undefined ? null : JSON.parse(JSON.stringify(x));
}

function errorText(err) {
  return err && err.message ? err.message : String(err);
}

// XState can reach a configuration that is not a legal statechart configuration (a state whose
// parent is not active, a compound state with no active child, ...), sometimes only for a
// microstep. statesync cannot be held to it: every microstep is checked (inspection events), the
// observation of that step is flagged and the comparison stops there.
function isConsistent(snapshot) {
  const nodes = new Set(snapshot._nodes);
  for (const node of nodes) {
    if (node.parent && !nodes.has(node.parent)) return false;
    const children = Object.values(node.states ?? {});
    const active = children.filter((c) => nodes.has(c)).length;
    if (node.type === 'compound' && active !== 1) return false;
    if (node.type === 'parallel' && active !== children.length) return false;
  }
  return true;
}

// The running child machines: {id: {value, context, status, output[, children]}}.
function observeChildren(snapshot) {
  const found = {};
  for (const [id, ref] of Object.entries(snapshot.children ?? {})) {
    const child = ref.getSnapshot();
    if (!child || child.value === undefined || child.status === 'stopped') continue;
    const entry = {
      value: jsonSafe(child.value),
      context: jsonSafe(child.context),
      status: child.status,
      output: jsonSafe(child.output),
    };
    const nested = observeChildren(child);
    if (Object.keys(nested).length) entry.children = nested;
    found[id] = entry;
  }
  return found;
}

// `emitted` (events from emit), `logs` (logger calls from log, as argument lists), `meta`
// (snapshot.getMeta()) and `children` (observeChildren) are reported only when not empty.
// `c.can` (a list of events): `can` is {type: snapshot.can(event)} for each, also on an error
// (`true`, `false`, or `"throws"` when a guard throws).
function answers(snapshot, events) {
  if (!events) return {};
  const can = {};
  for (const event of events) {
    try {
      can[event.type] = snapshot.can(event);
    } catch (err) {
      can[event.type] = 'throws';
    }
  }
  return { can };
}

function observe(snapshot, effects, inconsistent, emitted = [], logs = [], canEvents = undefined) {
  if (snapshot.status === 'error') return { error: errorText(snapshot.error), ...answers(snapshot, canEvents) };
  const flags = inconsistent || !isConsistent(snapshot) ? { xstateInconsistent: true } : {};
  const extra = {};
  if (emitted.length) extra.emitted = emitted;
  if (logs.length) extra.logs = logs;
  const meta = snapshot.getMeta();
  if (Object.keys(meta).length) extra.meta = jsonSafe(meta);
  const children = observeChildren(snapshot);
  if (Object.keys(children).length) extra.children = children;
  return {
    ...flags,
    value: jsonSafe(snapshot.value),
    context: jsonSafe(snapshot.context),
    tags: [...snapshot.tags].sort(),
    status: snapshot.status,
    output: jsonSafe(snapshot.output),
    effects,
    ...extra,
    ...answers(snapshot, canEvents),
  };
}

function runCase(c) {
  let effects = [];
  let emitted = [];
  let logs = [];
  const record = (name) => effects.push(name);
  let machine;
  try {
    machine = buildMachine(c, record);
  } catch (err) {
    return { error: `definition: ${errorText(err)}` };
  }
  const clock = new SimulatedClock();
  const observations = [];
  let inconsistent = false;
  const inspect = (ev) => {
    if (ev.type === '@xstate.microstep' && ev.snapshot.status !== 'error' && !isConsistent(ev.snapshot)) {
      inconsistent = true;
    }
  };
  const logger = (...args) => logs.push(jsonSafe(args));
  const actor = createActor(machine, { clock, input: c.input, inspect, logger });
  actor.subscribe({ error: () => {} }); // errors are read from the snapshot
  actor.on('*', (event) => emitted.push(jsonSafe(event)));
  try {
    actor.start();
  } catch (err) {
    observations.push({ error: errorText(err) });
    return { observations };
  }
  observations.push(observe(actor.getSnapshot(), effects, inconsistent, emitted, logs, c.can));
  for (const step of c.steps ?? []) {
    if (actor.getSnapshot().status === 'error') break;
    effects = [];
    emitted = [];
    logs = [];
    inconsistent = false;
    try {
      if (step.advance !== undefined) clock.increment(step.advance);
      else actor.send(step);
    } catch (err) {
      observations.push({ error: errorText(err) });
      break;
    }
    observations.push(observe(actor.getSnapshot(), effects, inconsistent, emitted, logs, c.can));
  }
  actor.stop();
  return { observations };
}

function runBatch(cases) {
  return cases.map((c) => {
    try {
      return runCase(c);
    } catch (err) {
      return { error: `runner: ${errorText(err)}` };
    }
  });
}

// Default: one JSON array on stdin -> one JSON array on stdout.
// `--serve`: one JSON array per input line -> one JSON array per output line, until stdin ends
// (a long-lived process for many small batches, e.g. hypothesis shrinking).
function main() {
  if (process.argv.includes('--serve')) {
    const readline = require('readline');
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    rl.on('line', (line) => {
      if (line.trim()) process.stdout.write(`${JSON.stringify(runBatch(JSON.parse(line)))}\n`);
    });
    return;
  }
  const chunks = [];
  process.stdin.on('data', (d) => chunks.push(d));
  process.stdin.on('end', () => {
    process.stdout.write(JSON.stringify(runBatch(JSON.parse(Buffer.concat(chunks).toString('utf8')))));
  });
}

main();
