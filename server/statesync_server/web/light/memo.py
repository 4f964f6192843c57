"""The light runtime's slow steps (checking, rewriting and compiling a module), done once per
content and kept on disk, so a server start with the same code, or with one module changed,
redoes only what changed, and every process (each test's server) shares the results.

`memo(kind, parts, compute)` returns `compute()`'s bytes, stored under
`<cache dir>/light/<kind>/<key>`: the key hashes `parts` (the step's inputs: a module's path
and source) with the rewriter's own source (`rewrite.py`, this package's `__init__.py`), so a
changed rewriter recomputes. Where the cache directory cannot be written, each call computes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..compressed import cache_dir, store

_REWRITER = tuple(Path(__file__).resolve().parent / name for name in ("rewrite.py", "__init__.py"))


@functools.lru_cache(maxsize=1)
def rewriter_digest() -> bytes:
    """A hash of the code that makes the light runtime's sources (part of every key)."""
    digest = hashlib.sha256()
    for path in _REWRITER:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


def memo(kind: str, parts: Iterable[str | bytes], compute: Callable[[], bytes]) -> bytes:
    """`compute()`, or what it returned before for the same `kind` and `parts`."""
    digest = hashlib.sha256(rewriter_digest())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    path = cache_dir().parent / "light" / kind / digest.hexdigest()[:40]
    try:
        return path.read_bytes()
    except OSError:
        pass
    result = compute()
    store(path, result)
    return result
