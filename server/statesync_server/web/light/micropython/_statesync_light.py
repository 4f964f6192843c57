"""Run-time helper of statesync's light runtime (MicroPython): what rewritten modules import.

Rewritten by `statesync_server.web.light`; never imported by CPython.
"""

import asyncio
import binascii
from collections import OrderedDict

MISSING = object()
"""A dataclass field's default when it has a `default_factory`."""

SIGNATURES = {}
"""`{function: ((name, kind, has_default), ...)}` for functions not of the plain
`(context, event)` shape (see `signature`): read by the light `inspect.signature`."""


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen dataclass."""


TimeoutError = asyncio.TimeoutError


class ConnectionError(OSError):
    pass


class BrokenPipeError(ConnectionError):
    pass


class ConnectionAbortedError(ConnectionError):
    pass


class ConnectionRefusedError(ConnectionError):
    pass


class ConnectionResetError(ConnectionError):
    pass


class BlockingIOError(OSError):
    pass


class ChildProcessError(OSError):
    pass


class FileExistsError(OSError):
    pass


class FileNotFoundError(OSError):
    pass


class InterruptedError(OSError):
    pass


class IsADirectoryError(OSError):
    pass


class NotADirectoryError(OSError):
    pass


class PermissionError(OSError):
    pass


class ProcessLookupError(OSError):
    pass


class MappingProxyType(dict):
    """A read-only view's stand-in: a copy that refuses writes (`types.MappingProxyType`)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("'mappingproxy' object does not support item assignment")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse


# collections.abc names read at run time (isinstance checks).
Mapping = dict
MutableMapping = dict
Sequence = (list, tuple, str, bytes, bytearray, range)
MutableSequence = (list, bytearray)
Set = (set, frozenset)
MutableSet = set


def monotonic():
    """Seconds from a monotonic clock (`time.monotonic`): the host's `performance.now()`."""
    try:
        import js
        return js.performance.now() / 1000
    except (ImportError, AttributeError):
        import time
        return time.ticks_ms() / 1000


perf_counter = monotonic


def _as_bytes(data):
    return data.encode() if isinstance(data, str) else bytes(data)


def urlsafe_b64decode(data):
    """`base64.urlsafe_b64decode` (MicroPython's raises NotImplementedError)."""
    import binascii
    return binascii.a2b_base64(_as_bytes(data).replace(b"-", b"+").replace(b"_", b"/"))


def urlsafe_b64encode(data):
    """`base64.urlsafe_b64encode`."""
    import binascii
    encoded = binascii.b2a_base64(_as_bytes(data)).rstrip(b"\n")
    return encoded.replace(b"+", b"-").replace(b"/", b"_")


def merge(*parts):
    """`{**a, "k": v, **b}`: a new dict updated from each part in turn."""
    merged = {}
    for part in parts:
        merged.update(part)
    return merged


def ordered(pairs):
    """A dict display whose order matters (`states`, `on`, `after`), as an `OrderedDict`."""
    return OrderedDict(pairs)


def ordered_set(keys, value=None):
    """`dict.fromkeys(keys, value)` as an `OrderedDict` (an insertion-ordered set)."""
    return OrderedDict((key, value) for key in keys)


def copy_dict(source):
    """`dict(source)`, an `OrderedDict` again when `source` is one (it keeps the order)."""
    return OrderedDict(source) if isinstance(source, OrderedDict) else dict(source)


class deque:
    """`collections.deque` as statesync uses it (MicroPython's is a ring of fixed size)."""

    def __init__(self, items=(), maxlen=None):
        self._items = list(items)
        self._head = 0
        self.maxlen = maxlen

    def _compact(self):
        if self._head > 32 and self._head * 2 > len(self._items):
            del self._items[:self._head]
            self._head = 0

    def append(self, item):
        self._items.append(item)
        if self.maxlen is not None and len(self) > self.maxlen:
            self.popleft()

    def appendleft(self, item):
        if self._head:
            self._head -= 1
            self._items[self._head] = item
        else:
            self._items.insert(0, item)

    def extend(self, items):
        for item in items:
            self.append(item)

    def popleft(self):
        if self._head >= len(self._items):
            raise IndexError("pop from an empty deque")
        item = self._items[self._head]
        self._items[self._head] = None
        self._head += 1
        self._compact()
        return item

    def pop(self):
        if self._head >= len(self._items):
            raise IndexError("pop from an empty deque")
        return self._items.pop()

    def clear(self):
        self._items = []
        self._head = 0

    def __len__(self):
        return len(self._items) - self._head

    def __bool__(self):
        return len(self._items) > self._head

    def __iter__(self):
        return iter(self._items[self._head:])

    def __getitem__(self, index):
        return self._items[self._head:][index]

    def __repr__(self):
        return "deque({!r})".format(self._items[self._head:])


def signature(spec):
    """Decorator (and wrapper, for lambdas) recording a function's parameters."""
    def register(fn):
        SIGNATURES[fn] = spec
        return fn

    return register


def _isascii(s):
    for c in s:
        if ord(c) > 127:
            return False
    return True


def _isalnum(s):
    if not s:
        return False
    for c in s:
        if not (c.isalpha() or c.isdigit()):
            return False
    return True


def _isidentifier(s):
    if not s or s[0].isdigit():
        return False
    for c in s:
        if not (c == "_" or c.isalpha() or c.isdigit()):
            return False
    return True


def _pad(s, width, fill, left):
    missing = width - len(s)
    if missing <= 0:
        return s
    return s + fill * missing if left else fill * missing + s


def _zfill(s, width):
    sign = s[:1] if s[:1] in ("+", "-") else ""
    return sign + _pad(s[len(sign):], width - len(sign), "0", False)


def _title(s):
    out = []
    start = True
    for c in s:
        out.append(c.upper() if start else c.lower())
        start = not c.isalpha()
    return "".join(out)


def _swapcase(s):
    return "".join(c.lower() if c.isupper() else c.upper() for c in s)


_STR_METHODS = {
    "removeprefix": lambda s, p: s[len(p):] if p and s.startswith(p) else s,
    "removesuffix": lambda s, p: s[:-len(p)] if p and s.endswith(p) else s,
    "isascii": _isascii,
    "isalnum": _isalnum,
    "isidentifier": _isidentifier,
    "isdecimal": lambda s: s.isdigit(),
    "isnumeric": lambda s: s.isdigit(),
    "ljust": lambda s, width, fill=" ": _pad(s, width, fill, True),
    "rjust": lambda s, width, fill=" ": _pad(s, width, fill, False),
    "zfill": _zfill,
    "title": _title,
    "capitalize": lambda s: s[:1].upper() + s[1:].lower(),
    "casefold": lambda s: s.lower(),
    "swapcase": _swapcase,
    "expandtabs": lambda s, size=8: s.replace("\t", " " * size),
}


def method(obj, name, *args):
    """`obj.name(*args)`, implemented here for the `str` / `float` / hash methods MicroPython
    lacks."""
    if isinstance(obj, str):
        return _STR_METHODS[name](obj, *args)
    if isinstance(obj, float) and name == "is_integer":
        return obj == obj and obj not in (float("inf"), float("-inf")) and obj == int(obj)
    if name == "hexdigest" and not hasattr(obj, "hexdigest"):  # hashlib's hashes
        return binascii.hexlify(obj.digest()).decode()
    return getattr(obj, name)(*args)


class AsyncGenerator:
    """An async generator for MicroPython, which has none: the rewrite turns an `async def`
    that yields into `AsyncGenerator(body)`, `body(emit)` a coroutine awaiting `emit(item)`
    for each item. The body runs in a task, paused after each item until the next is asked
    for; `aclose()` cancels it, so its `finally` blocks run."""

    def __init__(self, body):
        self._body = body
        self._task = None
        self._ready = asyncio.Event()
        self._resume = asyncio.Event()
        self._item = None
        self._error = None
        self._done = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._done:
            raise StopAsyncIteration
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        else:
            self._resume.set()
        await self._ready.wait()
        self._ready.clear()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._done:
            raise StopAsyncIteration
        return self._item

    async def _run(self):
        try:
            await self._body(self._emit)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - raised in the consumer
            self._error = exc
        finally:
            self._done = True
            self._ready.set()

    async def _emit(self, item):
        self._item = item
        self._ready.set()
        await self._resume.wait()
        self._resume.clear()

    async def aclose(self):
        if self._task is not None and not self._done:
            self._task.cancel()
            await self._ready.wait()
        self._done = True
