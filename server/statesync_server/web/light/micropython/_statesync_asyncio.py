"""`asyncio` for statesync's client in MicroPython (the light runtime): MicroPython's own
asyncio (which runs on the JavaScript event loop in the webassembly port) plus what the
client uses that it lacks: `Future`, `Queue`, `wait`, `shield`, `ensure_future`, tasks with
`add_done_callback`, and a running loop with `create_future` / `call_later` / `time`.

Rewritten modules import it as `asyncio`; never imported by CPython.
"""

import asyncio as _asyncio
import time as _time

CancelledError = _asyncio.CancelledError
TimeoutError = _asyncio.TimeoutError
Event = _asyncio.Event
Lock = _asyncio.Lock
sleep = _asyncio.sleep
gather = _asyncio.gather
current_task = _asyncio.current_task
FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"


class InvalidStateError(Exception):
    pass


class Future:
    """A result set later, awaited by any number of tasks."""

    def __init__(self):
        self._event = Event()
        self._result = None
        self._exception = None
        self._cancelled = False
        self._callbacks = []

    def done(self):
        return self._event.is_set()

    def cancelled(self):
        return self._cancelled

    def _finish(self):
        self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def set_result(self, result):
        if self.done():
            raise InvalidStateError("the future is done")
        self._result = result
        self._finish()

    def set_exception(self, exception):
        if self.done():
            raise InvalidStateError("the future is done")
        self._exception = exception
        self._finish()

    def cancel(self, msg=None):
        if self.done():
            return False
        self._cancelled = True
        self._exception = CancelledError(msg) if msg else CancelledError()
        self._finish()
        return True

    def result(self):
        if not self.done():
            raise InvalidStateError("the result is not set")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self):
        if not self.done():
            raise InvalidStateError("the result is not set")
        if self._cancelled:
            raise self._exception
        return self._exception

    def add_done_callback(self, callback):
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def remove_done_callback(self, callback):
        before = len(self._callbacks)
        self._callbacks = [c for c in self._callbacks if c is not callback]
        return before - len(self._callbacks)

    async def _wait(self):
        await self._event.wait()
        return self.result()

    def __await__(self):
        return self._wait()

    __iter__ = __await__


class Task(Future):
    """A coroutine running in MicroPython's scheduler, seen as a `Future`."""

    def __init__(self, coro):
        Future.__init__(self)
        self._task = _asyncio.create_task(self._run(coro))

    async def _run(self, coro):
        try:
            result = await coro
        except CancelledError:
            if not self.done():
                Future.cancel(self)
            return
        except BaseException as exc:  # noqa: BLE001 - kept for whoever awaits the task
            if not self.done():
                self.set_exception(exc)
            return
        if not self.done():
            self.set_result(result)

    def cancel(self, msg=None):
        if self.done():
            return False
        self._task.cancel()
        return Future.cancel(self, msg)


def create_task(coro):
    return Task(coro)


def ensure_future(awaitable):
    return awaitable if isinstance(awaitable, Future) else Task(awaitable)


async def _await(awaitable):
    return await awaitable


async def wait_for(awaitable, timeout):
    """MicroPython's `wait_for`, for futures and tasks too (it takes coroutines only)."""
    if isinstance(awaitable, Future):
        awaitable = _await(awaitable)
    if timeout is None:
        return await awaitable
    return await _asyncio.wait_for(awaitable, timeout)


def shield(awaitable):
    """A future with `awaitable`'s outcome that cancelling does not pass on."""
    inner = ensure_future(awaitable)
    outer = Future()

    def copy(done):
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
        elif done.exception() is not None:
            outer.set_exception(done.exception())
        else:
            outer.set_result(done.result())

    inner.add_done_callback(copy)
    return outer


async def wait(awaitables, timeout=None, return_when=ALL_COMPLETED):
    """`(done, pending)` sets of futures, as `asyncio.wait`."""
    futures = {ensure_future(a) for a in awaitables}
    woke = Event()

    def on_done(future):
        if return_when == FIRST_COMPLETED or (
                return_when == FIRST_EXCEPTION and not future.cancelled()
                and future.exception() is not None) or all(f.done() for f in futures):
            woke.set()

    for future in futures:
        future.add_done_callback(on_done)
    try:
        if not any(f.done() for f in futures) or return_when == ALL_COMPLETED:
            if timeout is None:
                await woke.wait()
            else:
                try:
                    await _asyncio.wait_for(woke.wait(), timeout)
                except TimeoutError:
                    pass
    finally:
        for future in futures:
            future.remove_done_callback(on_done)
    done = {f for f in futures if f.done()}
    return done, futures - done


class QueueEmpty(Exception):
    pass


class Queue:
    """An unbounded FIFO queue for tasks."""

    def __init__(self, maxsize=0):
        self._items = []
        self._head = 0
        self._ready = Event()

    def qsize(self):
        return len(self._items) - self._head

    def empty(self):
        return self.qsize() == 0

    def put_nowait(self, item):
        self._items.append(item)
        self._ready.set()

    async def put(self, item):
        self.put_nowait(item)

    def get_nowait(self):
        if self.empty():
            raise QueueEmpty()
        item = self._items[self._head]
        self._items[self._head] = None
        self._head += 1
        if self._head > 32 and self._head * 2 > len(self._items):
            del self._items[:self._head]
            self._head = 0
        if self.empty():
            self._ready.clear()
        return item

    async def get(self):
        while self.empty():
            await self._ready.wait()
        return self.get_nowait()


class TimerHandle:
    def __init__(self, delay, callback, args):
        self._cancelled = False
        self._task = create_task(self._fire(delay, callback, args))

    async def _fire(self, delay, callback, args):
        await sleep(delay)
        if not self._cancelled:
            callback(*args)

    def cancel(self):
        self._cancelled = True
        self._task.cancel()

    def cancelled(self):
        return self._cancelled


class _Loop:
    """The part of the running loop statesync uses."""

    def create_future(self):
        return Future()

    def create_task(self, coro):
        return Task(coro)

    def call_later(self, delay, callback, *args):
        return TimerHandle(delay, callback, args)

    def call_soon(self, callback, *args):
        return TimerHandle(0, callback, args)

    def time(self):
        return _time.ticks_ms() / 1000


_LOOP = _Loop()


def get_running_loop():
    return _LOOP


def get_event_loop():
    return _LOOP


def run(coro):
    return _asyncio.run(coro)
