"""The per-instance event pipeline (`engine.py`: authorize, apply, commit, answer, broadcast)
and the read paths it projects through: what a reader may see (`privacy.py`), history and
catch-up (`history.py`, `replay.py`), emitted events (`emits.py`), indexes and live queries
(`indexes.py`, `live_queries.py`, `cursors.py`), machine versions (`versions.py`) and the
manual clock's stepping (`virtual_time.py`).

May import: `workflow`, `store` and the model (the package's top-level modules); never the
transports (`web`), `cli` or `testing`.
"""
