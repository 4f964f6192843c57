"""`signal` for tests/differential/pyrunner.py inside MicroPython, which has none: installing a
handler fails as it does off the main thread, so the runner goes without its per-case time
limit (run_micropython's own timeout still bounds the run). harness.py writes it as
`signal.py`; never imported by CPython."""

SIGALRM = 14


def signal(signum, handler):
    raise ValueError("signals are not available in MicroPython")


def alarm(seconds):
    return 0
