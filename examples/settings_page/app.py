"""A page whose form is bound to the user's settings, plus a small todo list.

Run it:   statesync serve examples/settings_page/app.py   then open http://127.0.0.1:8000/
No login: every browser gets an anonymous session; the settings need no server code at all.
The todo machine runs in the browser too (optimistic), but only the server validates item
text: an item longer than 40 characters shows at once and is then rolled back.
"""

from __future__ import annotations

from pathlib import Path

import machines
from pydantic import BaseModel, Field

from statesync_server import Access, App
from statesync_server.builtin import register_builtins


class Add(BaseModel):
    text: str = Field(min_length=1, max_length=40)


class ItemRef(BaseModel):
    id: int


def own_list(access: Access) -> bool:
    """Each user has one list, named after their subject."""
    return access.instance == access.subject


app = App(
    anonymous_sessions=True,
    browser_module=machines,  # served to the page, which runs the todo machine optimistically
    static_dir=Path(__file__).parent / "static",
)
register_builtins(app)  # the settings machine (until the server registers it by itself)
app.register(
    "todo",
    machines.todo,
    allow_read=own_list,
    allow_write=own_list,
    events={"ADD": Add, "TOGGLE": ItemRef, "CLEAR_DONE": None},
)
