"""The server of tests/e2e/test_sdk_runtime_choice.py's mixed page: a machine that needs Pyodide
(`ledger`) beside the built-in settings machine, which runs in MicroPython; one ledger per user,
named after the subject."""

from __future__ import annotations

import ledger_machines

from statesync_server import Access, App


def own(access: Access) -> bool:
    return access.instance == access.claims.get("sub")


app = App(browser_module=ledger_machines)
app.register("ledger", ledger_machines.ledger, allow_read=own, allow_write=own)
