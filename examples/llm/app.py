"""A multi-step LLM pipeline: an article is drafted by a model, checked against a schema,
redrafted with the validation errors as feedback (at most N drafts), approved by an editor
and published.

Run it:   statesync serve examples/llm/app.py            (offline: a local stand-in model)
          then open http://127.0.0.1:8000/#token=<an editor's token>: the review page
Tokens:   statesync token --sub ada                       (an author)
          statesync token --sub grace --claim role=editor

Each model call is an invoked service with a 90 s step timeout, retried by the server
(after 1 s, then 2 s) when it fails or times out; a draft that fails validation is not an
error of the call but of the answer, and goes back to the model as feedback.
Settings (environment): LLM_MAX_ATTEMPTS (machines.py), LLM_PUBLISH_DIR (default
./published), and the model's (model.py).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from machines import article_machine
from model import DraftRequest, load_model
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from statesync_server import Access, App, EffectCall, ErrorCode, Index, Retry, StatesyncError

STEP_TIMEOUT_S = 90.0
PUBLISH_DIR = Path(os.environ.get("LLM_PUBLISH_DIR", "published"))
model = load_model()


async def draft(call: EffectCall) -> dict[str, str]:
    """One model call (the `draft` service): the raw answer, validated by the machine."""
    request = DraftRequest(call.input["topic"], call.input["attempt"],
                           call.input["feedback"], call.input["notes"])
    return {"text": await model.draft(request, key=call.idempotency_key, sleep=call.sleep)}


async def publish(call: EffectCall) -> dict[str, str]:
    """Publish the approved article (here: a JSON file, written whole, so a retry after a
    crash publishes the same thing once)."""
    path = PUBLISH_DIR / f"{call.instance}.json"
    body = {**call.input["article"], "author": call.input["author"],
            "approved_by": call.input["reviewer"], "key": call.idempotency_key}

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_suffix(".tmp")
        fresh.write_text(json.dumps(body, indent=1))
        fresh.replace(path)

    await asyncio.to_thread(write)
    return {"url": f"/published/{path.name}"}


class ArticleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str = Field(min_length=3, max_length=100)
    max_attempts: int | None = Field(default=None, ge=1, le=10)


class Changes(BaseModel):
    notes: str = Field(min_length=1, max_length=200)


REVIEW = {"APPROVE", "REQUEST_CHANGES", "REJECT"}


def is_editor(access: Access) -> bool:
    return access.claims.get("role") == "editor"


def may_read(access: Access) -> bool:
    """The author and the editors."""
    return access.subject == access.context["author"] or is_editor(access)


def may_write(access: Access) -> bool:
    """Anyone signed in starts an article; editors review it, never their own."""
    if access.creating:
        try:
            ArticleInput.model_validate((access.event or {}).get("input"))
        except ValidationError as exc:
            raise StatesyncError(ErrorCode.INVALID_EVENT,
                                 f"article input: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        return True
    kind = (access.event or {}).get("type")
    if kind in REVIEW:
        return is_editor(access) and access.subject != access.context["author"]
    return kind == "RETRY" and access.subject == access.context["author"]


app = App(static_dir=Path(__file__).parent / "static")  # the editors' review page
app.register(
    "article", article_machine,
    allow_read=may_read, allow_write=may_write,
    events={"APPROVE": None, "REQUEST_CHANGES": Changes, "REJECT": None, "RETRY": None},
    services={"draft": draft, "publish": publish},
    retry=Retry(max_attempts=3, backoff=1.0, timeout=STEP_TIMEOUT_S),
    indexes={"status": Index("status", public=True)},  # the editors' queue: status eq awaiting_approval
)
