"""The per-instance event pipeline and the read paths it projects through.

`engine.py` orders each instance's operations (`slots.py`) and runs a unit of writes as its
steps: authorize and apply in memory (`apply.py`), commit (`commit.py`), answer (`results.py`,
`outcomes.py`), broadcast (`broadcast.py`, `projection.py`); reads answer from the committed
state (`reads.py`). What a reader may see: `privacy.py`; history and catch-up: `history.py`,
`replay.py`; emitted events: `emits.py`; indexes and live queries: `indexes.py`,
`live_queries.py`, `cursors.py`; machine versions: `versions.py`; the manual clock's
stepping: `virtual_time.py`.

May import: `workflow`, `store` and the model (the package's top-level modules); never the
transports (`web`), `cli` or `testing`.
"""
