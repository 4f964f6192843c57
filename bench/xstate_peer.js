#!/usr/bin/env node
// XState 5 side of bench/interpreter.py: the same machines, timed inside Node.
//
// stdin: one JSON command per line; stdout: one JSON answer per line.
//   {"open": id, "config": <XState config>, "mode": "send" | "transition"}
//       builds the machine (implementations "inc" and "isEven" as in the Python bench) and
//       starts it: an actor (createActor(machine).start()) for "send", the snapshot of the
//       pure initialTransition(machine) for "transition".  Answers {"value", "count"}.
//   {"run": id, "events": ["NEXT", ...]}
//       builds the event objects, then times firing them in order: actor.send(event) for
//       "send"; [snapshot] = transition(machine, snapshot, event) for "transition" (the state
//       is threaded from run to run).  Answers {"seconds", "value", "count"}.
// The value (XState's StateValue) and the context counter let the Python side check the end
// state, so a machine that silently does nothing fails instead of winning.
'use strict';

const path = require('path');
const readline = require('readline');
const { createMachine, createActor, assign, initialTransition, transition } = require(
  path.join(__dirname, '..', 'tests', 'js', 'node_modules', 'xstate'));

const IMPLEMENTATIONS = {
  actions: { inc: assign(({ context }) => ({ count: context.count + 1 })) },
  guards: { isEven: ({ context }) => context.count % 2 === 0 },
};

const cases = new Map();

function open(command) {
  const machine = createMachine(command.config, IMPLEMENTATIONS);
  const entry = { machine, mode: command.mode };
  if (command.mode === 'send') {
    entry.actor = createActor(machine).start();
  } else if (command.mode === 'transition') {
    [entry.snapshot] = initialTransition(machine);
  } else {
    throw new Error(`unknown mode ${command.mode}`);
  }
  cases.set(command.open, entry);
  return state(entry);
}

function state(entry) {
  const snapshot = entry.actor ? entry.actor.getSnapshot() : entry.snapshot;
  return { value: snapshot.value, count: snapshot.context ? snapshot.context.count ?? null : null };
}

function run(command) {
  const entry = cases.get(command.run);
  const events = command.events.map((type) => ({ type }));
  let seconds;
  if (entry.actor) {
    const actor = entry.actor;
    const start = process.hrtime.bigint();
    for (let i = 0; i < events.length; i++) actor.send(events[i]);
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  } else {
    const machine = entry.machine;
    let snapshot = entry.snapshot;
    const start = process.hrtime.bigint();
    for (let i = 0; i < events.length; i++) [snapshot] = transition(machine, snapshot, events[i]);
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
    entry.snapshot = snapshot;
  }
  return { seconds, ...state(entry) };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line);
  let answer;
  try {
    answer = command.open !== undefined ? open(command) : run(command);
  } catch (error) {
    answer = { error: String(error && error.stack || error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
