"""The fixture app (tests/e2e/test_vite_app.py): todo lists under a dotted machine name; only
the server checks an item's length, so a long one shows at once and is then rolled back."""

from __future__ import annotations

import machines
from pydantic import BaseModel, Field

from statesync_server import App


class Add(BaseModel):
    text: str = Field(min_length=1, max_length=40)


class Item(BaseModel):
    id: int
    text: str


class TodoContext(BaseModel):
    owner: str | None
    items: list[Item]
    next_id: int


app = App(browser_module=machines)
app.register("todo.list", machines.todo, events={"ADD": Add, "ARCHIVE": None, "RESTORE": None},
             context_model=TodoContext, indexes={"owner": "owner"})
