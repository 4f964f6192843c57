"""A note with an indexed title and tags, for the storage-limit tests (test_storage_limits.py)."""

from statesync import Machine, assign, send_to
from statesync_server import App

note = Machine(
    {
        "id": "note",
        "initial": "open",
        "context": lambda input: {"owner": (input or {}).get("owner"),
                                  "title": (input or {}).get("title", ""), "tags": []},
        "states": {"open": {"on": {"SET": {"actions": "set"}, "TELL": {"actions": "tell"},
                                   "HEARD": {"actions": "heard"}}}},
    },
    actions={
        "set": assign(lambda ctx, ev: {k: ev[k] for k in ("title", "tags") if k in ev}),
        "tell": send_to("note", lambda ctx, ev: ev["to"], lambda ctx, ev: {"type": "HEARD"}),
        "heard": assign(lambda ctx, ev: {"title": "heard"}),
    },
)

app = App()
app.register("note", note, indexes={"title": "title", "tags": "tags"},
             allow_read=lambda access: True, allow_write=lambda access: True)
