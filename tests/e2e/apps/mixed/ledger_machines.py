"""The machine of tests/e2e/test_sdk_runtime_choice.py that cannot run in MicroPython, though
the static check passes it: its initial context reverses a dict's keys (MicroPython's dict views
are not reversible), so the server's trial of it under Node sends it to Pyodide."""

from __future__ import annotations

from statesync import Machine, assign

COLUMNS = {"date": "Date", "amount": "Amount", "memo": "Memo"}

ledger = Machine(
    {
        "id": "ledger",
        "initial": "open",
        "context": lambda _input: {"columns": list(reversed(COLUMNS.keys())), "entries": []},
        "states": {
            "open": {
                "on": {
                    "ADD": {"actions": assign(lambda ctx, ev: {
                        "entries": [*ctx["entries"], ev["text"]]})},
                },
            },
        },
    }
)
