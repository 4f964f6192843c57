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
  if (name.startsWith('peek')) {
    return ({ context, event }) => record(`${name}:${context ? (context.count ?? null) : null}:${event.type}`);
  }
  return () => record(name);
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

function collectActions(a, actionNames) {
  for (const item of toList(a)) {
    actionNames.add(typeof item === 'string' ? item : item.type);
  }
  return a;
}

function translateTransitions(t, names) {
  if (t === undefined) return t;
  const one = (x) => {
    if (typeof x === 'string') return x;
    const out = { ...x };
    if (out.guard !== undefined) out.guard = translateGuard(out.guard, names.guards);
    collectActions(out.actions, names.actions);
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
  collectActions(out.entry, names.actions);
  collectActions(out.exit, names.actions);
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
  if (out.states) {
    out.states = Object.fromEntries(
      Object.entries(out.states).map(([k, v]) => [k, translateNode(v, names)]),
    );
  }
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
      guards[name] = raw;
      pending.push(typeof raw === 'string' ? raw : raw.type);
    } else {
      guards[name] = guardImpl(name);
    }
  }
  return guards;
}

function buildMachine(rawConfig, record, provided = {}) {
  const names = { actions: new Set(), guards: new Set() };
  const config = translateNode(rawConfig, names);
  if (config.context === '$input') config.context = ({ input }) => ({ ...(input ?? {}) });
  config.options = { ...(config.options ?? {}), maxIterations: MAX_ITERATIONS };
  const actions = {};
  for (const name of names.actions) {
    const vocabularyName = (provided.actions ?? {})[name] ?? name;
    actions[name] = actionImpl(vocabularyName, record);
  }
  const guards = guardImplementations(names.guards, provided.guards);
  const delays = { ...NAMED_DELAYS, ...(provided.delays ?? {}) };
  return createMachine(config, { actions, guards, delays });
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

function observe(snapshot, effects, inconsistent) {
  if (snapshot.status === 'error') return { error: errorText(snapshot.error) };
  const flags = inconsistent || !isConsistent(snapshot) ? { xstateInconsistent: true } : {};
  return {
    ...flags,
    value: jsonSafe(snapshot.value),
    context: jsonSafe(snapshot.context),
    tags: [...snapshot.tags].sort(),
    status: snapshot.status,
    output: jsonSafe(snapshot.output),
    effects,
  };
}

function runCase(c) {
  let effects = [];
  const record = (name) => effects.push(name);
  let machine;
  try {
    machine = buildMachine(c.config, record, c.implementations);
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
  const actor = createActor(machine, { clock, input: c.input, inspect });
  actor.subscribe({ error: () => {} }); // errors are read from the snapshot
  try {
    actor.start();
  } catch (err) {
    observations.push({ error: errorText(err) });
    return { observations };
  }
  observations.push(observe(actor.getSnapshot(), effects, inconsistent));
  for (const step of c.steps ?? []) {
    if (actor.getSnapshot().status === 'error') break;
    effects = [];
    inconsistent = false;
    try {
      if (step.advance !== undefined) clock.increment(step.advance);
      else actor.send(step);
    } catch (err) {
      observations.push({ error: errorText(err) });
      break;
    }
    observations.push(observe(actor.getSnapshot(), effects, inconsistent));
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
