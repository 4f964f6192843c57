"""`uuid.uuid4()` for MicroPython (statesync's light runtime), from the JavaScript host's
cryptographic random source (event ids must not repeat across page loads)."""

import binascii


def _random_bytes(n):
    try:
        import js
        buffer = js.Uint8Array.new(n)
        js.crypto.getRandomValues(buffer)
        return bytes(buffer[i] for i in range(n))
    except (ImportError, AttributeError):
        import os
        return os.urandom(n)


class UUID:
    def __init__(self, raw):
        self.bytes = raw
        self.hex = binascii.hexlify(raw).decode()

    def __str__(self):
        h = self.hex
        return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))

    def __repr__(self):
        return "UUID('{}')".format(self)

    def __eq__(self, other):
        return isinstance(other, UUID) and other.bytes == self.bytes

    def __hash__(self):
        return hash(self.bytes)


def uuid4():
    raw = bytearray(_random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return UUID(bytes(raw))
