"""Pure-Python helpers the machine imports (in the server and in the browser alike)."""

from typing import Any

LIMIT = 4


def step(count: int) -> int:
    return count + 2


def below_limit(context: dict[str, Any], _event: dict[str, Any]) -> bool:
    return context["count"] < LIMIT
