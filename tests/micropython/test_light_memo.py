"""The light runtime's per-module work (check, rewrite, bytecode) is done once per content and
kept on disk (`statesync_server.web.light.memo`): a start with the same code reuses it, a
changed module is redone, and the verdicts follow the content."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync_server.web.light import check_light, light_bundle


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STATESYNC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "light"


def entries(cache: Path, kind: str) -> set[str]:
    return {p.name for p in (cache / kind).iterdir()} if (cache / kind).is_dir() else set()


def test_a_check_is_kept_per_content_and_redone_when_the_module_changes(
        tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "shop.py"
    module.write_text("import json\n")
    assert check_light(module) == [] and len(entries(cache, "check")) == 1
    kept = entries(cache, "check")
    assert check_light(module) == [] and entries(cache, "check") == kept  # reused

    module.write_text("import decimal\n")
    assert check_light(module) == ["shop.py: imports decimal, which MicroPython does not have"]
    assert len(entries(cache, "check")) == 2
    module.write_text("match 1:\n    case _:\n        pass\n")
    assert check_light(module) == check_light(module) == ["shop.py: line 1: `match` statement"]


def test_a_rewrite_is_kept_per_content(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "shop.py"
    module.write_text("from __future__ import annotations\n\nx: int = 1\n")
    first = light_bundle([module])["shop.py"]
    rewritten = entries(cache, "rewrite")
    assert light_bundle([module])["shop.py"] == first and entries(cache, "rewrite") == rewritten
    module.write_text("y: int = 2\n")
    assert light_bundle([module])["shop.py"] == "y = 2\n"
    assert len(entries(cache, "rewrite")) == len(rewritten) + 1
