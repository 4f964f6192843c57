"""`load_app` of app files in one process: each app imports the modules of its own folder,
even when another app's folder had a module of the same name (`machines.py`) imported first."""

from __future__ import annotations

from pathlib import Path

from statesync_server.app import load_app

APP = '''from machines import NAME
from statesync import Machine
from statesync_server import App

app = App()
app.register(NAME, Machine({{"id": NAME, "initial": "a", "states": {{"a": {{}}}}}}))
'''


def _app_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "machines.py").write_text(f"NAME = {name!r}\n")
    (folder / "app.py").write_text(APP.format())
    return folder / "app.py"


def test_each_app_file_imports_its_own_sibling_modules(tmp_path: Path) -> None:
    first = load_app(str(_app_folder(tmp_path, "first")))
    second = load_app(str(_app_folder(tmp_path, "second")))
    assert list(first.machines) == ["first"]
    assert list(second.machines) == ["second"]  # was 'first': the cached `machines` module
