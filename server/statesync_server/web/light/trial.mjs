/**
 * Try a light bundle in MicroPython-wasm under Node: the server's start-up trial (trial.py).
 *
 *   node trial.mjs MICROPYTHON_MJS BUNDLE MACHINES
 *
 * BUNDLE is a packed light bundle (`pack_bundle`: a 4-byte little-endian index length, the
 * JSON index `[[path, length], ...]`, the contents), written under /light, first on sys.path.
 * MACHINES is a JSON file `{name: "module:attribute"}`. The browser client (`statesync_bridge`)
 * is imported, then each machine's module, and its initial state taken
 * (`machine.initial_transition()`). The last stdout line is the JSON answer:
 * `{"client": traceback | null, "machines": {name: {"value": state value} |
 * {"stage": "import" | "start", "error": traceback}}}`.
 */
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const ROOT = "/light";
const [micropython, bundlePath, machinesPath] = process.argv.slice(2);

const TRY = `
import io, json, sys
sys.path.insert(0, ${JSON.stringify(ROOT)})

def _trace(exc):
    text = io.StringIO()
    sys.print_exception(exc, text)
    return text.getvalue()

def _try(machines):
    answer = {"client": None, "machines": {}}
    try:
        import statesync_bridge
    except BaseException as exc:
        answer["client"] = _trace(exc)
    for name, location in json.loads(machines).items():
        module, _, attribute = location.partition(":")
        stage = "import"
        try:
            __import__(module)
            machine = getattr(sys.modules[module], attribute)
            stage = "start"
            snapshot, _ = machine.initial_transition()
            answer["machines"][name] = {"value": snapshot.value}
        except BaseException as exc:
            answer["machines"][name] = {"stage": stage, "error": _trace(exc)}
    return json.dumps(answer)

_answer = _try(_machines)
`;

function unpack(data) {
  const size = data.readUInt32LE(0);
  let at = 4 + size;
  return JSON.parse(data.subarray(4, at).toString()).map(([path, length]) => {
    const content = data.subarray(at, at + length);
    at += length;
    return [path, content];
  });
}

const { loadMicroPython } = await import(pathToFileURL(micropython).href);
const output = (line) => process.stderr.write(`${line}\n`);
const python = await loadMicroPython({ stdout: output, stderr: output,
                                       heapsize: 32 * 1024 * 1024 });
for (const [path, content] of unpack(fs.readFileSync(bundlePath))) {
  const slash = path.lastIndexOf("/");
  if (slash > 0) python.FS.mkdirTree(`${ROOT}/${path.slice(0, slash)}`);
  else python.FS.mkdirTree(ROOT);
  python.FS.writeFile(`${ROOT}/${path}`, content);
}
python.globals.set("_machines", fs.readFileSync(machinesPath, "utf8"));
python.runPython(TRY);
process.stdout.write(`${python.globals.get("_answer")}\n`);
