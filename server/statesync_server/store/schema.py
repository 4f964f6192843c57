"""Tables: instances (current snapshot) and the append-only event log.

JSON values are stored as text serialized by the store, so every dialect behaves alike.
Every change here is also a migration (store/migrations/versions/, see store/migrate.py);
tests/server/test_schema_migrations.py checks that the newest revision matches these tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeEngine

metadata = MetaData()


def _code_point_ordered(length: int) -> TypeEngine[str]:
    """Text compared by code point on every database: PostgreSQL's `COLLATE "C"` (its
    default collation may be a language's); SQLite compares UTF-8 bytes, the same order.
    Instance names are, in every table that joins on them (a join across collations could
    not use the other table's index)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


instances = Table(
    "instances",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("name", _code_point_ordered(200), primary_key=True),
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
# the event; its unique index makes each id apply at most once per instance. `emitted`: the
# events the transition emitted (a JSON list, NULL for none), as the machine made them (each
# reader is sent what it may see of them, as of the logged event), so a process that catches
# its subscribers up from the log delivers them too.
events = Table(
    "events",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("instance", _code_point_ordered(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("event", Text, nullable=False),
    Column("event_id", String(128)),
    Column("origin", String(32), nullable=False),
    Column("subject", String(401)),  # a token's sub, or the sending instance's machine/name
    Column("value", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("public", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("emitted", Text),
)

Index("events_event_id", events.c.machine, events.c.instance, events.c.event_id, unique=True)

# --- versions, indexes, history (statesync_server.engine.versions / indexes / history) ---------

# Instances per machine version (`statesync versions`, the start-up check).
Index("instances_version", instances.c.machine, instances.c.version)

# Every version label ever served, with the content hash of its config: the same label with
# a different config is refused at start-up.
machine_versions = Table(
    "machine_versions",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("config_hash", String(64), nullable=False),
    Column("first_seen", Float, nullable=False),
)

# Declared indexes (to notice a new or changed one and back-fill it).
index_defs = Table(
    "index_defs",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("path", String(500), nullable=False),
)


# One row per (instance, index, value); a list value gives one row per distinct element.
# `key` is an order-preserving text encoding of the value (see indexes.encode_key), so one
# B-tree serves numbers, strings and booleans, and range scans compare code points (so do
# the instance names that order entries of equal keys).
index_entries = Table(
    "index_entries",
    metadata,
    Column("machine", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("key", _code_point_ordered(1000), nullable=False),
    Column("instance", _code_point_ordered(200), nullable=False),
)
Index(
    "index_entries_lookup",
    index_entries.c.machine, index_entries.c.name, index_entries.c.key, index_entries.c.instance,
    unique=True,
)
Index("index_entries_instance", index_entries.c.machine, index_entries.c.instance)

# Full snapshots at some seqs (creation, upgrades, every Nth transition): the state as of any
# seq is the nearest checkpoint at or before it with the later logged events replayed.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("version", String(64), nullable=False),
    Column("snapshot", Text, nullable=False),
)

# --- durable timers and the outbox (statesync_server.workflow.timers / effects / messages) -----

# A pending delayed event (an `after` timer or a delayed raise) of one instance. Inserted in
# the transaction of the transition that started it; deleted in the transaction that fires
# it (with the event's log row) or cancels it. `seq` is the transition that started it.
timers = Table(
    "timers",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("timer_id", String(500), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("event", Text, nullable=False),
    Column("due", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("owner", String(64)),
)
Index("timers_due", timers.c.due)
Index("timers_owner", timers.c.owner)  # cluster mode: a stopped process's timers

# Work a transition hands to the outside world, committed with it: `kind` is `effect`,
# `service` (an invoked service: `target` is its invoke id), `message` or `create` (to
# instance `target` of machine `name`). (machine, instance, seq, idx) is the sending
# transition and the action's index in it: the stable idempotency key. `status`: pending,
# done, failed, cancelled (service left) or ignored (message not accepted by the receiver).
outbox = Table(
    "outbox",
    metadata,
    Column("machine", String(200), primary_key=True),
    Column("instance", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("target", String(200)),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("owner", String(64)),
)
Index("outbox_status", outbox.c.status, outbox.c.next_at)
Index("outbox_owner", outbox.c.owner, outbox.c.status)  # cluster mode: a stopped process's jobs

# --- cluster mode (statesync_server.store.cluster; PostgreSQL) ---------------------------------

# The server processes sharing the database. A timer or outbox row is run by its `owner`
# (the process that committed it) while that process's heartbeat is fresh; a row whose
# owner stopped beating is claimed by another process (docs/deployment.md). `app`: the hash
# of the process's machine configs (every registered version); `versions`: the machine
# versions it serves (JSON: machine -> labels), so an upgrade can wait for older processes.
nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("app", String(64)),
    Column("versions", Text),
    Column("address", String(255)),  # where the others forward the writes it owns (peers.py)
)

# --- virtual time (clock.py's ManualClock, `--clock manual`) ---------------------------------

# The time of the manual clock of the server serving the database (one row, id 1), kept at
# start-up and after every advance: what `statesync timers` and `statesync effects` count
# from. No row: the server runs on the wall clock.
server_clock = Table(
    "server_clock",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("now", Float, nullable=False),
)
