"""`UserSettings`: a key/value view over the caller's built-in settings instance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .instance import Instance
from .state import State


class UserSettings:
    """The caller's settings in one namespace: stored values over client-side defaults.

    Changes show at once (optimistic) and are saved by the server; `set`, `update` and
    `reset` return the send future (resolving once saved).
    """

    def __init__(self, instance: Instance, defaults: Mapping[str, Any] | None = None) -> None:
        self.instance = instance
        self.defaults = dict(defaults or {})

    @property
    def values(self) -> dict[str, Any]:
        """Every setting: the defaults overridden by the stored values."""
        return self._values(self.instance.state)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> asyncio.Future[int]:
        return self.instance.send({"type": "SET", "key": key, "value": value})

    def update(self, values: Mapping[str, Any]) -> asyncio.Future[int]:
        return self.instance.send({"type": "SET_MANY", "values": dict(values)})

    def reset(self, keys: Iterable[str] | None = None) -> asyncio.Future[int]:
        """Back to the defaults: the given keys, or all of them."""
        event: dict[str, Any] = {"type": "RESET"}
        if keys is not None:
            event["keys"] = list(keys)
        return self.instance.send(event)

    def subscribe(self, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        """Call `callback(values)` whenever the settings change; returns `unsubscribe`."""
        return self.instance.subscribe(lambda state: callback(self._values(state)))

    @property
    def saved(self) -> bool:
        """Whether every change has been confirmed by the server."""
        return not self.instance.pending

    async def close(self) -> None:
        await self.instance.close()

    def _values(self, state: State) -> dict[str, Any]:
        return {**self.defaults, **state.context["values"]}
