"""Precompressed asset responses: brotli or gzip by the request's `Accept-Encoding`.

Each asset is compressed once per content (brotli and gzip, in a thread), kept in memory and
in a disk cache (`$STATESYNC_CACHE_DIR`, else `~/.cache/statesync/compressed/`, keyed by the
content's SHA-256), so a restart does not pay again; `warm()` does it ahead of the first
request. An encoding that saves under 5% (an archive already deflated) is not kept: such an
asset goes as it is. Answers carry `Vary: Accept-Encoding` and a strong ETag per encoding;
`If-None-Match` gets a 304.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("statesync")

ENCODINGS = ("br", "gzip")  # the server's preference
MIN_SAVING = 0.05
BROTLI_BEST_UNDER = 512 * 1024  # bytes: quality 11 below (slow), 9 below 4 MB, 5 beyond
BROTLI_GOOD_UNDER = 4 * 1024 * 1024


def cache_dir() -> Path:
    """Where compressed copies are kept between runs."""
    configured = os.environ.get("STATESYNC_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "statesync"
    return base / "compressed"


def accepted_encodings(header: str) -> set[str]:
    """The codings an `Accept-Encoding` header allows (q > 0), `*` standing for every one."""
    allowed: set[str] = set()
    refused: set[str] = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        (allowed if q > 0 else refused).add(name)
    if "*" in allowed:
        allowed |= set(ENCODINGS)
    return allowed - refused


def _brotli(data: bytes) -> bytes:
    quality = 11 if len(data) < BROTLI_BEST_UNDER else 9 if len(data) < BROTLI_GOOD_UNDER else 5
    return brotli.compress(data, quality=quality)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9 if len(data) < BROTLI_GOOD_UNDER else 6, mtime=0)


COMPRESSORS = {"br": _brotli, "gzip": _gzip}
DECOMPRESSORS = {"br": brotli.decompress, "gzip": gzip.decompress}


class Asset:
    """One file's bytes and their compressed variants (made once, on first need)."""

    def __init__(self, data: bytes, media_type: str | None) -> None:
        self.data = data
        self.media_type = media_type
        self.digest = hashlib.sha256(data).hexdigest()
        self._variants: dict[str, bytes] | None = None
        self._lock = threading.Lock()

    def variants(self, directory: Path | None) -> Mapping[str, bytes]:
        """`{encoding: bytes}` for the encodings worth sending (blocking: compresses)."""
        with self._lock:
            if self._variants is None:
                self._variants = {name: body for name in ENCODINGS
                                  if (body := self._load(name, directory)) is not None}
            return self._variants

    def _load(self, encoding: str, directory: Path | None) -> bytes | None:
        path = directory / f"{self.digest}.{encoding}" if directory else None
        body = self._cached(path, encoding) if path is not None else None
        if body is None:
            body = COMPRESSORS[encoding](self.data)
            if path is not None:
                store(path, body)
        return body if len(body) <= len(self.data) * (1 - MIN_SAVING) else None

    def _cached(self, path: Path, encoding: str) -> bytes | None:
        """The copy on disk if it decompresses to this content (else it is made again)."""
        try:
            body = path.read_bytes()
            if hashlib.sha256(DECOMPRESSORS[encoding](body)).hexdigest() == self.digest:
                return body
        except (OSError, brotli.error, gzip.BadGzipFile, EOFError, zlib.error):
            pass
        return None


def store(path: Path, body: bytes) -> None:
    """Write `body` to `path` atomically (a unique temporary file, then a rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            file.write(body)
        os.replace(temporary, path)
    except OSError as exc:  # a read-only home: kept in memory only
        log.debug("compressed copy not cached at %s: %s", path, exc)


class Assets:
    """The compressed-asset cache of one server."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else cache_dir()
        self._by_key: dict[str, Asset] = {}

    def add(self, key: str, data: bytes, media_type: str | None) -> Asset:
        asset = self._by_key.get(key)
        if asset is None or asset.data != data:
            asset = self._by_key[key] = Asset(data, media_type)
        return asset

    def get(self, key: str) -> Asset | None:
        return self._by_key.get(key)

    def warm(self, keys: Iterable[str] | None = None) -> threading.Thread:
        """Compress the assets (all, or `keys`) in a background thread, started now."""
        assets = [self._by_key[k] for k in (keys if keys is not None else list(self._by_key))]

        def run() -> None:
            for asset in assets:
                try:
                    asset.variants(self.directory)
                except Exception:  # noqa: BLE001 - logged; requests compress (or fail) again
                    log.exception("compressing a browser asset failed")

        thread = threading.Thread(target=run, name="statesync-compress", daemon=True)
        thread.start()
        return thread

    async def response(self, request: Request, asset: Asset,
                       headers: Mapping[str, str]) -> Response:
        """`asset` in the best encoding the request accepts (or as it is), with its ETag."""
        variants = await asyncio.to_thread(asset.variants, self.directory)
        allowed = accepted_encodings(request.headers.get("accept-encoding", ""))
        encoding = next((e for e in ENCODINGS if e in allowed and e in variants), None)
        body = variants[encoding] if encoding else asset.data
        etag = f'"{asset.digest[:32]}{"-" + encoding if encoding else ""}"'
        answer = {**headers, "etag": etag, "vary": "Accept-Encoding"}
        if encoding:
            answer["content-encoding"] = encoding
        if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=answer)
        return Response(body, media_type=asset.media_type, headers=answer)
