"""The asset graph: which assets exist and what each is built from. A partition is one day of
an asset, named `<asset>@<YYYY-MM-DD>` (`report@2026-12-01`); it depends on the same day of
its asset's upstream assets."""

from __future__ import annotations

import re

ASSETS: dict[str, tuple[str, ...]] = {
    "events": (),                     # a source: page views, landed by another system
    "users": (),                      # a source: the user table's daily export
    "sessions": ("events",),          # page views per user
    "report": ("sessions", "users"),  # page views per user name, busiest first
}
# asset@YYYY-MM-DD, in the regular expressions MicroPython's `re` knows too (no named groups,
# no counted repeats): the browser may run these machines there.
_PARTITION = re.compile(r"^([a-z_]+)@(\d\d\d\d-\d\d-\d\d)$")


def split(partition: str) -> tuple[str, str]:
    """`"report@2026-12-01"` -> `("report", "2026-12-01")`; ValueError for anything else."""
    found = _PARTITION.match(partition)
    if found is None or found.group(1) not in ASSETS:
        raise ValueError(f"not a partition of a known asset: {partition!r}")
    return found.group(1), found.group(2)


def upstream(partition: str) -> list[str]:
    """The partitions `partition` is built from."""
    asset, date = split(partition)
    return [f"{dep}@{date}" for dep in ASSETS[asset]]


def closure(targets: list[str]) -> list[str]:
    """`targets` and everything they are built from, upstream first (a topological order)."""
    ordered: list[str] = []

    def visit(partition: str) -> None:
        if partition in ordered:
            return
        for dep in upstream(partition):
            visit(dep)
        ordered.append(partition)

    for target in targets:
        visit(target)
    return ordered
