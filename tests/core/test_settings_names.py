"""The settings machine's instance names (`statesync.settings`), computed wherever the core
runs (CPython, Pyodide, MicroPython: tests/micropython/test_core_in_micropython.py)."""

from __future__ import annotations

import hashlib

import pytest

from statesync.settings import settings_instance, subject_key


def test_a_usable_subject_is_its_own_key() -> None:
    assert settings_instance("ui", "alice") == "ui~alice"


@pytest.mark.parametrize("subject", ["alice smith", "h-alice", "a~b", "é"])
def test_other_subjects_are_hashed(subject: str) -> None:
    digest = hashlib.sha256(subject.encode()).digest()
    expected = "h-" + "".join(f"{byte:02x}" for byte in digest)
    assert subject_key(subject) == expected
    assert settings_instance("ui", subject) == f"ui~{expected}"


def test_a_namespace_is_checked() -> None:
    with pytest.raises(ValueError):
        settings_instance("no spaces", "alice")
