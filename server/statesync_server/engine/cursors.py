"""Opaque, tamper-proof query cursors.

A cursor is the position where the next page of a query starts, sealed with AES-GCM under a
server key. The caller's subject and the query itself (machine, index, operator, value,
order) are bound to it as associated data: a cursor cannot be read, altered, or used by
another caller or for another query. The key is derived from the server's token key, so
every process sharing it accepts the same cursors; without one it is random per process.

Every cursor has the same length: the position (which may be that of a row the caller may not
read, where a page ended on its scan budget) is padded to the longest one there can be, so a
cursor's length tells nothing of the key or name inside.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_core import to_json

from ..errors import ErrorCode, StatesyncError
from ..limits import MAX_INDEXED_STRING_BYTES, MAX_NAME

_NONCE = 12
_LENGTH = struct.Struct(">HH")
_POSITION_BYTES = _LENGTH.size + (MAX_INDEXED_STRING_BYTES + 1) + 4 * MAX_NAME
"""The padded size of a position: its two lengths, the longest index key (a type letter and
a string) and the longest instance name, in UTF-8."""


class CursorSealer:
    """Seals and opens cursors with one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: bytes | None) -> CursorSealer:
        """A sealer keyed by `secret` (a random key when None)."""
        if secret is None:
            return cls(os.urandom(32))
        return cls(hmac.new(secret, b"statesync query cursors", hashlib.sha256).digest())

    def seal(self, binding: Any, position: tuple[str, str]) -> str:
        """The cursor for `position` (index key, instance name) under `binding`."""
        nonce = os.urandom(_NONCE)
        key, instance = (part.encode() for part in position)
        plain = _LENGTH.pack(len(key), len(instance)) + key + instance
        plain += bytes(max(0, _POSITION_BYTES - len(plain)))
        sealed = self._aead.encrypt(nonce, plain, to_json(binding))
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, cursor: str, binding: Any) -> tuple[str, str]:
        """The position sealed in `cursor`, or `invalid-message` if it was not made by this
        server for this `binding`."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], to_json(binding))
            key_bytes, instance_bytes = _LENGTH.unpack_from(plain)
            end = _LENGTH.size + key_bytes
            key = plain[_LENGTH.size:end].decode()
            instance = plain[end:end + instance_bytes].decode()
        except (ValueError, TypeError, InvalidTag, struct.error):
            raise StatesyncError(ErrorCode.INVALID_MESSAGE, "invalid cursor") from None
        return key, instance
