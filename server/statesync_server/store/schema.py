"""Tables: instances (current snapshot) and the append-only event log.

JSON values are stored as text serialized by the store, so every dialect behaves alike.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

instances = Table(
    "instances",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One row per committed transition, seq 0 being the creation. `value`, `tags`, `public`
# (the public context) and `status` are what subscribers were sent, so a re-subscribing
# client can be replayed exactly the updates it missed. `event_id` is the client's id for
# the event; its unique index makes each id apply at most once per instance.
events = Table(
    "events",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("event", Text, nullable=False),
    Column("event_id", String(128)),
    Column("origin", String(32), nullable=False),
    Column("subject", String(200)),
    Column("value", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("public", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Float, nullable=False),
)

Index("events_event_id", events.c.machine, events.c.instance, events.c.event_id, unique=True)
