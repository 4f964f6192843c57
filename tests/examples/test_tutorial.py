"""docs/tutorial.md works as written, with the markers of tests/docs/test_doc_snippets.py
(which leaves this document to this file): its Python blocks run one after the other in one
namespace and the functions they define (a live query, a test on virtual time) run against a
real server of examples/orders; its `sh server` blocks run in bash against such a server,
from a directory holding its database (`illustrative` blocks are not run)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples_harness import REPO, ExampleServer, example, serve

from statesync_server.engine.versions import check_migrations

TUTORIAL = REPO / "docs" / "tutorial.md"


def blocks(text: str, info: str) -> list[str]:
    """The fenced blocks whose info string is exactly `info`."""
    return re.findall(rf"^```{re.escape(info)}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def tutorial() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    python = blocks(TUTORIAL.read_text(), "python")
    assert len(python) >= 6
    for number, block in enumerate(python, start=1):
        exec(compile(block, f"{TUTORIAL}:block {number}", "exec"), namespace)  # noqa: S102
    return namespace


def test_the_tutorials_app_registers_both_versions_and_a_fitting_migration(tutorial) -> None:
    app = tutorial["app"]
    assert set(app.versions["order"]) == {"1", "2"} and app.machines["order"].version == "2"
    assert check_migrations(app) == []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    """examples/orders served from a directory where the tutorial's commands work as written:
    `examples/` is there, and `./statesync.db` is the server's database."""
    directory = tmp_path_factory.mktemp("tutorial")
    (directory / "examples").symlink_to(REPO / "examples")
    process = serve(example("orders"), directory / "statesync.db")
    yield process
    process.stop()


def test_the_tutorials_functions_work_against_the_example(tutorial, server: ExampleServer) -> None:
    tutorial["test_the_courier_is_requested_when_the_food_is_ready"](server)

    customer = server.mint("ada", role="customer")
    restaurant = server.mint("luigi", role="restaurant")

    async def submit_while_watching() -> list[str]:
        watching = asyncio.create_task(tutorial["watch_open_orders"](
            server.url, restaurant, "luigi", lambda names: "t2" in names))
        await asyncio.sleep(0)  # (the watch may start before or after the order: both work)
        async with httpx.AsyncClient(base_url=server.url) as http:
            created = await http.post("/v1/instances/order/t2", json={"input": tutorial["pizza"]},
                                      headers={"Authorization": f"Bearer {customer}"})
            assert created.status_code == 201, created.text
        return await asyncio.wait_for(watching, 30)

    # t1 (awaiting a courier) is still open at luigi's, and t2 entered the live query
    assert {"t1", "t2"} <= set(asyncio.run(submit_while_watching()))


def test_the_tutorials_shell_blocks_work_against_the_example(server: ExampleServer) -> None:
    host = server.url.removeprefix("http://")
    outputs = []
    for block in blocks(TUTORIAL.read_text(), "sh server"):
        script = re.sub(r"(localhost|127\.0\.0\.1):8000", host, block)
        done = _bash(script, server.db.parent, server.secret)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    orders, versions = outputs
    assert '"value":"offered"' in orders and '"seq":1' in orders  # created, then accepted
    assert orders.rstrip().endswith('"code":"forbidden","message":"not allowed to read \'o1\'"}}')
    assert "0 upgraded" in versions  # o1 was created under version 2


def _bash(script: str, cwd: Path, secret: str) -> subprocess.CompletedProcess[str]:
    """A shell block with `statesync` on the PATH and the server's signing secret."""
    env = {**os.environ, "STATESYNC_SECRET": secret,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_tutorials_tests_run_through_pytest_in_a_fresh_directory(tmp_path: Path) -> None:
    """Section 5 as a user writes it: the example in `examples/orders/`, the `conftest.py`
    block, the test block (with the `pizza` it uses) in a test file, and `python -m pytest`
    in that directory (the plugin resolves the app's path against pytest's rootdir)."""
    text = TUTORIAL.read_text()
    section = text.split("\n## 5.", 1)[1].split("\n## 6.", 1)[0]
    test_block, conftest_block = blocks(section, "python")
    pizza = re.search(r"^pizza = .*?\}\}\n", text, re.DOTALL | re.MULTILINE)
    assert pizza is not None
    shutil.copytree(REPO / "examples" / "orders", tmp_path / "examples" / "orders")
    (tmp_path / "conftest.py").write_text(conftest_block)
    (tmp_path / "test_orders.py").write_text(pizza.group(0) + "\n\n" + test_block)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
