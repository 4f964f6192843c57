"""Every ```python and ```sh snippet of README.md and docs/*.md works as written.

The info string after the language says how a snippet is run:

- no marker: run on its own. A document's Python snippets run in order in one namespace (a
  later snippet may use what an earlier one defined), top-level `await` allowed; shell
  snippets run with `bash -e`. Both in a scratch directory that has the repository's
  `examples/`, with `STATESYNC_SECRET` set.
- `server`: run against a real server of examples/todo/app.py (anonymous sessions on) on
  virtual time (`--clock manual`), started for these tests: `$STATESYNC_URL`, `$TOKEN` (alice),
  `$ADMIN_TOKEN` are set, `statesync token` mints tokens it accepts, and `localhost:8000` /
  `127.0.0.1:8000` in the snippet mean that server.
- `illustrative`: not run (a fragment, a long-running command, an install). Python ones are
  still compiled, so their syntax cannot rot.

docs/tutorial.md is run by tests/examples/test_tutorial.py (its blocks build one app).
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from statesync_server.auth import ADMIN_CLAIM
from statesync_server.testing import ServerProcess

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_ELSEWHERE = {"docs/tutorial.md": "tests/examples/test_tutorial.py"}
LANGUAGES = ("python", "sh")
MARKERS = frozenset({"server", "illustrative"})
TIMEOUT = 60
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Snippet:
    doc: str
    line: int
    language: str
    markers: frozenset[str]
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def snippets_of(path: Path) -> list[Snippet]:
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        words = match.group(1).split()
        if not words or words[0] not in LANGUAGES:
            continue
        line = text.count("\n", 0, match.start()) + 1
        found.append(Snippet(str(path.relative_to(REPO)), line, words[0],
                             frozenset(words[1:]), match.group(2)))
    return found


ALL = [s for doc in DOCS for s in snippets_of(doc)]
CHECKED = [s for s in ALL if s.doc not in RUN_ELSEWHERE]


def _ids(snippet: Snippet) -> str:
    return snippet.where


def test_snippets_use_only_known_markers() -> None:
    unknown = [(s.where, sorted(s.markers - MARKERS)) for s in ALL if s.markers - MARKERS]
    assert not unknown, f"unknown snippet markers (known: {sorted(MARKERS)}): {unknown}"
    assert len(CHECKED) >= 30  # the parser still finds the docs' snippets


def test_docs_with_async_tests_say_what_runs_them() -> None:
    """An `async def test_` needs pytest-asyncio and its mode: the document that shows one
    says to install `statesync[testing]` (which has it) and to set `asyncio_mode`."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(r.startswith("pytest-asyncio") for r in extras["testing"])
    showing = {s.doc for s in ALL if s.language == "python" and "async def test_" in s.code}
    assert showing  # the docs still show one
    for doc in showing:
        text = (REPO / doc).read_text()
        assert "statesync[testing]" in text and "asyncio_mode" in text, doc


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with the repository's examples, for snippets to run in."""
    directory = tmp_path_factory.mktemp("docs")
    (directory / "examples").symlink_to(REPO / "examples")
    return directory


@pytest.fixture(scope="module")
def doc_server(scratch: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(Path(__file__).parent / "apps" / "docs_app.py", scratch / "server.db",
                           clock="manual")
    yield server.start()
    server.stop()


def _environment(scratch: Path, server: ServerProcess | None, secret: str) -> dict[str, str]:
    env = {**os.environ, "STATESYNC_SECRET": secret,
           "PYTHONPATH": os.pathsep.join([str(REPO / "sdk_py"), str(REPO / "server"),
                                          os.environ.get("PYTHONPATH", "")])}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if server is not None:
        env.update(STATESYNC_URL=server.url, TOKEN=server.mint("alice"),
                   ADMIN_TOKEN=server.mint("ops", **{ADMIN_CLAIM: True}))
    return env


def _aimed_at(code: str, server: ServerProcess) -> str:
    address = server.url.removeprefix("http://")
    return re.sub(r"(localhost|127\.0\.0\.1):8000", address, code)


def _compile(snippet: Snippet) -> object:
    return compile(snippet.code, snippet.where, "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _run_python(snippets: list[Snippet], namespace: dict) -> None:
    for snippet in snippets:
        code = _compile(snippet)
        try:
            result = eval(code, namespace)  # noqa: S307 - the docs' own code
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception as exc:
            raise AssertionError(f"{snippet.where}: {type(exc).__name__}: {exc}") from exc


def _run_sh(snippet: Snippet, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "-e", "-c", snippet.code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, (f"{snippet.where} failed ({done.returncode}):\n{snippet.code}\n"
                                  f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}")


@pytest.mark.parametrize("snippet", [s for s in CHECKED if s.language == "python"
                                     and "illustrative" in s.markers], ids=_ids)
def test_illustrative_python_compiles(snippet: Snippet) -> None:
    _compile(snippet)


PYTHON_DOCS = sorted({s.doc for s in CHECKED if s.language == "python"
                      and not s.markers & MARKERS})


@pytest.mark.parametrize("doc", PYTHON_DOCS)
def test_python_snippets_run(doc: str, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("STATESYNC_SECRET", "doc-snippets-secret-0123456789abcdef0123")
    monkeypatch.syspath_prepend(str(scratch))
    _run_python([s for s in CHECKED if s.doc == doc and s.language == "python"
                 and not s.markers & MARKERS], {"__name__": f"doc_{Path(doc).stem}"})


@pytest.mark.parametrize("snippet", [s for s in CHECKED if s.language == "sh"
                                     and not s.markers & MARKERS], ids=_ids)
def test_sh_snippets_run(snippet: Snippet, scratch: Path) -> None:
    _run_sh(snippet, scratch, _environment(scratch, None, "doc-snippets-secret-0123456789abc"))


SERVER = [s for s in CHECKED if "server" in s.markers]


@pytest.mark.parametrize("snippet", SERVER, ids=_ids)
def test_server_snippets_run(snippet: Snippet, doc_server: ServerProcess, scratch: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    env = _environment(scratch, doc_server, doc_server.secret)
    aimed = Snippet(snippet.doc, snippet.line, snippet.language, snippet.markers,
                    _aimed_at(snippet.code, doc_server))
    if snippet.language == "sh":
        _run_sh(aimed, scratch, env)
        return
    monkeypatch.chdir(scratch)
    for key in ("STATESYNC_URL", "TOKEN", "ADMIN_TOKEN", "STATESYNC_SECRET"):
        monkeypatch.setenv(key, env[key])
    _run_python([aimed], {"__name__": f"doc_{Path(snippet.doc).stem}"})
