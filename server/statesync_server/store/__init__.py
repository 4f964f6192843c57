"""Persistence: the SQLAlchemy schema (`schema.py`) and its migrations (`migrate.py`,
`migrations/`), the store's reads and writes (`store.py`, `workrows.py`), group commit
(`groupcommit.py`), the cluster's shared database (`cluster.py`) and dev mode's adoption of
changed machines (`dev_database.py`).

May import: the model (the package's top-level modules) only.
"""

from .store import InstanceWrite, LogRow, Store, StoredInstance, WriteConflict

__all__ = ["InstanceWrite", "LogRow", "Store", "StoredInstance", "WriteConflict"]
