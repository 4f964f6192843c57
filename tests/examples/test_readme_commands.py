"""Every ```sh block of the examples' READMEs works as a newcomer would type it.

A block's first command is the server (`statesync serve ...`); it is started as written, in
a scratch directory holding the repository's `examples/` (its development secret in
`./.statesync-secret`, as `statesync token` then finds it), with `--port 0 --clock manual`
added. The rest runs with `bash -e -o pipefail`, with:

- a human's pause before every command: two seconds of the server's virtual time, after
  which the server has settled (`POST /v1/admin/clock`), so what a README says "is there"
  after the previous command is there;
- `sleep N`: N seconds of virtual time;
- `curl` failing on an HTTP error status (`--fail-with-body`), so a refused request fails;
- `localhost:8000` / `127.0.0.1:8000` meaning the server started for it.

Blocks marked `sh illustrative` are not run (a real LLM provider, a server stopped with Ctrl-C).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from statesync_server.auth import ADMIN_CLAIM
from statesync_server.testing import ServerProcess

REPO = Path(__file__).resolve().parents[2]
READMES = sorted((REPO / "examples").glob("*/README.md"))
MARKERS = frozenset({"illustrative"})
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
TIMEOUT = 120
SERVE = re.compile(r"^((?:\w+=\S+\s+)*)statesync serve (\S+)")
PRELUDE = f"""
set -e -o pipefail
ADMIN_TOKEN=$(statesync token --sub readme-test --claim {ADMIN_CLAIM}=true)
advance() {{
  command curl -sf -X POST "$STATESYNC_URL/v1/admin/clock" -H "Authorization: Bearer $ADMIN_TOKEN" \\
    -H 'content-type: application/json' -d "{{\\"seconds\\": $1}}" > /dev/null
}}
sleep() {{ advance "$1"; }}
curl() {{ command curl --fail-with-body "$@"; echo; }}
trap 'advance 2' DEBUG
"""


def blocks() -> list[tuple[str, str, frozenset[str]]]:
    found = []
    for readme in READMES:
        text = readme.read_text()
        for match in FENCE.finditer(text):
            words = match.group(1).split()
            if words and words[0] == "sh":
                where = f"{readme.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
                found.append((where, match.group(2), frozenset(words[1:])))
    return found


BLOCKS = blocks()
RUN = [(where, code) for where, code, markers in BLOCKS if "illustrative" not in markers]


def test_blocks_use_known_markers_and_each_example_has_one_to_run() -> None:
    assert not [where for where, _, markers in BLOCKS if markers - MARKERS]
    assert {where.split("/")[1] for where, _ in RUN} == {p.parent.name for p in READMES}


class ReadmeServer(ServerProcess):
    """The block's first command, run as typed (by bash, in `cwd`, its database
    `./statesync.db`) with `--port 0 --clock manual` added."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        super().__init__("", cwd / "statesync.db", clock="manual")
        self.command, self.cwd, self.env = command, cwd, env

    def start(self) -> ReadmeServer:
        self._launch(["bash", "-c", f"{self.command} --port 0 --clock manual"], self.env,
                     self.cwd)
        return self


@pytest.mark.parametrize(("where", "code"), RUN, ids=[where for where, _ in RUN])
def test_readme_block_runs(where: str, code: str, tmp_path: Path) -> None:
    first, _, rest = code.partition("\n")
    command = first.split("#", 1)[0].strip()
    assert SERVE.match(command), f"{where}: the first command is not `statesync serve`: {first}"
    (tmp_path / "examples").symlink_to(REPO / "examples")
    env = {key: value for key, value in os.environ.items() if key != "STATESYNC_SECRET"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    server = ReadmeServer(command, tmp_path, env).start()
    try:
        address = server.url.removeprefix("http://")
        script = PRELUDE + re.sub(r"(localhost|127\.0\.0\.1):8000", address, rest)
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path,
                              env={**env, "STATESYNC_URL": server.url},
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, (
            f"{where} failed ({done.returncode}):\n{rest}\nstdout: {done.stdout[-3000:]}\n"
            f"stderr: {done.stderr[-3000:]}\nserver: {server.log()}")
        refused = re.search(r'"error":\s*\{"code"', done.stdout)  # a structured error answer
        assert not refused, f"{where}: an error answer:\n{done.stdout[-3000:]}"
    finally:
        server.stop()
