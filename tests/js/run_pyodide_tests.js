#!/usr/bin/env node
/**
 * Run a pytest suite inside Pyodide under Node, offline.
 *
 *   node run_pyodide_tests.js --statesync-wheel statesync-*.whl --wheels DIR \
 *        --root REPO --tests tests/core [--report FILE] [-- PYTEST_ARGS...]
 *
 * 1. Boot Pyodide (npm package `pyodide`, core runtime only: no micropip, no network).
 * 2. Install the statesync wheel alone and import statesync and all its submodules: with only
 *    the standard library available, any third-party import fails or is reported.
 * 3. Install every wheel in --wheels (pytest, hypothesis and their dependencies: pure-Python
 *    wheels or ones built for Pyodide's platform).
 * 4. Copy REPO's top-level directory holding --tests (tests/, so its conftest.py files and
 *    helpers come along; never sdk_py/: statesync comes from the wheel) into Pyodide's
 *    in-memory file system and run pytest on --tests there, rootdir = the copy of REPO, so node
 *    ids read as on the host ("tests/core/test_x.py::test_y").
 *
 * The exit code is pytest's (or 3 if the stdlib-only check failed, 4 on a usage error).
 * A JSON summary (Python version, collected node ids, outcomes, import check) is written to
 * --report, or else printed as the last stdout line, prefixed with "PYODIDE_SUMMARY ".
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { loadPyodide } = require("pyodide");

const INSIDE_PY = path.join(__dirname, "..", "pyodide", "inside_pyodide.py");
// Inside Pyodide: the runner module, and the copy of the repository's tests.
const RUNNER_DIR = "/home/pyodide/runner";
const REPO_DIR = "/home/pyodide/repo";
const SKIP = new Set(["node_modules", "__pycache__", ".pytest_cache", ".hypothesis"]);

/** Parse `--key value` pairs; everything after `--` is passed to pytest. */
function parseArgs(argv) {
  const sep = argv.indexOf("--");
  const own = sep === -1 ? argv : argv.slice(0, sep);
  const opts = { pytestArgs: sep === -1 ? [] : argv.slice(sep + 1) };
  for (let i = 0; i < own.length; i += 2) {
    if (!own[i].startsWith("--") || own[i + 1] === undefined) {
      throw new Error(`bad argument: ${own[i]}`);
    }
    opts[own[i].slice(2)] = own[i + 1];
  }
  for (const key of ["statesync-wheel", "wheels", "root", "tests"]) {
    if (!opts[key]) throw new Error(`missing --${key}`);
  }
  return opts;
}

/** Unpack one wheel file into Pyodide's site-packages. */
function installWheel(pyodide, sitePackages, wheelPath) {
  // unpackArchive wants a Uint8Array, not a Node Buffer.
  const bytes = new Uint8Array(fs.readFileSync(wheelPath));
  pyodide.unpackArchive(bytes, "wheel", { extractDir: sitePackages });
}

/** Copy a host directory tree into Pyodide's file system (skipping caches, node_modules). */
function copyTree(pyodide, hostDir, pyDir) {
  pyodide.FS.mkdirTree(pyDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const src = path.join(hostDir, entry.name);
    const dst = `${pyDir}/${entry.name}`;
    if (entry.isDirectory()) copyTree(pyodide, src, dst);
    else if (entry.isFile()) pyodide.FS.writeFile(dst, new Uint8Array(fs.readFileSync(src)));
  }
}

/**
 * Call the Python runner so that tests may block on coroutines (`asyncio.run`): that needs
 * JSPI stack switching (`node --experimental-wasm-stack-switching` on Node 20) and an entry
 * through `callPromising`. Without JSPI, fall back to a plain synchronous call.
 */
async function runPytest(inside, args) {
  if (hasJspi()) return await inside.run_pytest.callPromising(JSON.stringify(args));
  process.stderr.write("warning: no WebAssembly JSPI; asyncio.run inside tests will fail\n");
  return inside.run_pytest(JSON.stringify(args));
}

/** Whether WebAssembly stack switching (JSPI) is available: new or Node 20's old API. */
function hasJspi() {
  return "Suspending" in WebAssembly || "Suspender" in WebAssembly;
}

/**
 * Without JSPI, re-run this script once under Node 20's flag. Returns the child's exit code,
 * or null to carry on in this process (JSPI present, or this Node rejects the flag: status 9).
 */
function reexecWithJspi() {
  if (hasJspi() || process.env.STATESYNC_PYODIDE_REEXEC) return null;
  const child = spawnSync(
    process.execPath,
    ["--experimental-wasm-stack-switching", __filename, ...process.argv.slice(2)],
    { stdio: "inherit", env: { ...process.env, STATESYNC_PYODIDE_REEXEC: "1" } },
  );
  return child.status === 9 ? null : (child.status ?? 5);
}

/** Progress on stderr, with seconds since start. */
function log(msg, t0) {
  process.stderr.write(`[pyodide ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

async function main() {
  const t0 = Date.now();
  const childCode = reexecWithJspi();
  if (childCode !== null) return childCode;
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\nusage: see the header of ${__filename}\n`);
    return 4;
  }

  const pyodide = await loadPyodide();
  // Raw byte streams, so pytest's progress dots stay on one line.
  pyodide.setStdout({ write: (bytes) => (fs.writeSync(1, bytes), bytes.length) });
  pyodide.setStderr({ write: (bytes) => (fs.writeSync(2, bytes), bytes.length) });
  log(`Pyodide ${pyodide.version} loaded`, t0);
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");

  // The runner module itself lives outside site-packages and imports only the stdlib.
  pyodide.FS.mkdirTree(RUNNER_DIR);
  pyodide.FS.writeFile(`${RUNNER_DIR}/inside_pyodide.py`, fs.readFileSync(INSIDE_PY, "utf8"));
  pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(RUNNER_DIR)})`);
  const inside = pyodide.pyimport("inside_pyodide");

  installWheel(pyodide, sitePackages, opts["statesync-wheel"]);
  const importCheck = JSON.parse(inside.check_stdlib_only("statesync"));
  log(`statesync imported with the stdlib only: ${importCheck.imported.length} modules`, t0);
  const importOk = importCheck.non_stdlib.length === 0 && importCheck.errors.length === 0;
  if (!importOk) {
    process.stderr.write(`stdlib-only check failed: ${JSON.stringify(importCheck, null, 2)}\n`);
  }

  const wheels = fs.readdirSync(opts.wheels).filter((name) => name.endsWith(".whl")).sort();
  for (const name of wheels) installWheel(pyodide, sitePackages, path.join(opts.wheels, name));
  log(`installed ${wheels.join(", ")}`, t0);

  const tests = path.posix.normalize(opts.tests.split(path.sep).join("/"));
  const top = tests.split("/")[0];
  copyTree(pyodide, path.join(opts.root, top), `${REPO_DIR}/${top}`);
  pyodide.runPython(`import os; os.chdir(${JSON.stringify(REPO_DIR)})`);
  // The wheel's pytest plugin `statesync` (statesync_server.testing) needs the server's
  // dependencies, which the browser does not have: skip it.
  const args = ["-p", "no:cacheprovider", "-p", "no:statesync", "-ra", "--rootdir", REPO_DIR,
                tests, ...opts.pytestArgs];
  const result = JSON.parse(await runPytest(inside, args));
  log(`pytest exit code ${result.exit_code}`, t0);

  const summary = { ...result, pyodide_version: pyodide.version, import_check: importCheck,
                    seconds: (Date.now() - t0) / 1000 };
  if (opts.report) fs.writeFileSync(opts.report, JSON.stringify(summary, null, 2));
  else process.stdout.write(`PYODIDE_SUMMARY ${JSON.stringify(summary)}\n`);
  return importOk ? result.exit_code : 3;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(5);
  },
);
