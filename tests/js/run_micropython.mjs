#!/usr/bin/env node
/**
 * Run Python code inside MicroPython-wasm (statesync's light runtime) under Node.
 *
 *   node run_micropython.mjs --dir DIR --module NAME --call FUNCTION [--args FILE]
 *        [--report FILE] [--websocket 1]
 *
 * 1. Boot `@micropython/micropython-webassembly-pyscript` (heap: $STATESYNC_MICROPYTHON_HEAP_MB,
 *    default 64 MB).
 * 2. Copy DIR (a light bundle: rewritten statesync, the helper and stand-in modules, and the
 *    modules to run, written by tests/micropython/harness.py) into MicroPython's file system
 *    and put it first on `sys.path`.
 * 3. `result = NAME.FUNCTION(text of the --args file, or "{}")`, awaited when it is a
 *    coroutine (MicroPython's asyncio runs on Node's event loop); the result must be a JSON
 *    string.
 *
 * Python's output goes to stderr. The result (or {"error": traceback}) is written to --report,
 * else printed as the last stdout line prefixed "MICROPYTHON_RESULT ". With --websocket 1,
 * `globalThis.WebSocket` comes from the `ws` package (Node 20 has none).
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const ROOT = "/light";

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument: ${argv[i]}`);
    opts[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ["dir", "module", "call"]) if (!opts[key]) throw new Error(`missing --${key}`);
  return opts;
}

function copyTree(FS, hostDir, mpDir) {
  FS.mkdirTree(mpDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const src = path.join(hostDir, entry.name);
    if (entry.isDirectory()) copyTree(FS, src, `${mpDir}/${entry.name}`);
    else if (entry.isFile()) FS.writeFile(`${mpDir}/${entry.name}`, fs.readFileSync(src));
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.websocket === "1" && globalThis.WebSocket === undefined) {
    globalThis.WebSocket = createRequire(import.meta.url)("ws");
  }
  const write = (line) => process.stderr.write(`${line}\n`);
  const started = Date.now();
  const heapMb = Number(process.env.STATESYNC_MICROPYTHON_HEAP_MB || 64);
  const mp = await loadMicroPython({ stdout: write, stderr: write, heapsize: heapMb * 1024 * 1024,
                                     pystack: 64 * 1024 });
  const bootMs = Date.now() - started;
  copyTree(mp.FS, opts.dir, ROOT);
  mp.globals.set("_args", opts.args ? fs.readFileSync(opts.args, "utf8") : "{}");
  let result;
  try {
    // The call runs in a task that never raises: an exception thrown into the top-level
    // coroutine of runPythonAsync kills MicroPython's scheduler ("TopLevelCoro has no
    // attribute 'throw'"), so failures come back as {"error": traceback}.
    await mp.runPythonAsync(`
import asyncio, io, json, sys
sys.path.insert(0, ${JSON.stringify(ROOT)})
import ${opts.module} as _entry

async def _guarded():
    try:
        result = _entry.${opts.call}(_args)
        return result if isinstance(result, str) else await result
    except BaseException as exc:
        trace = io.StringIO()
        sys.print_exception(exc, trace)
        return json.dumps({"error": trace.getvalue()})

_result = await asyncio.create_task(_guarded())
`);
    result = JSON.parse(mp.globals.get("_result"));
  } catch (err) {
    result = { error: String(err && err.message ? err.message : err) };
  }
  result.micropython_boot_ms = bootMs;
  const text = JSON.stringify(result);
  if (opts.report) fs.writeFileSync(opts.report, text);
  else process.stdout.write(`MICROPYTHON_RESULT ${text}\n`);
  return result.error ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(5);
  },
);
