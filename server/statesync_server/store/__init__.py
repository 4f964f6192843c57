"""Persistence: SQLAlchemy schema and queries."""

from .store import InstanceWrite, LogRow, Store, StoredInstance, WriteConflict

__all__ = ["InstanceWrite", "LogRow", "Store", "StoredInstance", "WriteConflict"]
