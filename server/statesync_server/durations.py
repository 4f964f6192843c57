"""Durations as people read them: `7d 2h`, `1m 30s`, `0.05s` (the two largest units)."""

from __future__ import annotations

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def human_duration(seconds: float) -> str:
    """`seconds` in its two largest units (`7d 2h`, `1h 1m`); under a minute in seconds with
    three significant digits (`0.05s`, `59.9s`); negative with a leading `-`."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.3g}s"
    parts, rest = [], int(seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count or parts:
            parts.append((count, unit))
        if len(parts) == 2:
            break
    return sign + " ".join(f"{count}{unit}" for count, unit in parts if count)
