"""The article pipeline: draft -> validate -> (retry with the errors as feedback, at most
`max_attempts` drafts) -> human approval -> publish.

The drafting step and the publishing step are invoked services (app.py): they run after the
transition that enters them is committed, with the step timeout, and their results come
back as events. Validation is a pure check of the draft (schema.py), done in the transition
that receives it.
"""

from __future__ import annotations

import os
from typing import Any

from schema import check
from statesync import Machine, Sender, assign

MAX_ATTEMPTS = int(os.environ.get("LLM_MAX_ATTEMPTS", "3"))
"""Drafts per round before the pipeline gives up (an input may ask for fewer or more, 1-10)."""


def new_article(input: Any, *, sender: Sender) -> dict[str, Any]:
    request = input if isinstance(input, dict) else {}
    return {
        "topic": request.get("topic"),
        "author": sender.subject,
        "max_attempts": request.get("max_attempts") or MAX_ATTEMPTS,
        "attempt": 0,
        "output": None,       # the model's last answer, as it gave it
        "errors": [],         # what was wrong with it: the next attempt's feedback
        "article": None,      # the last valid draft
        "notes": None,        # the editor's request for changes
        "reviewer": None,
        "url": None,
        "status": "drafting",
    }


def _validated(ctx: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    output = ev["output"]["text"]
    article, errors = check(output)
    return {"output": output, "errors": errors, "article": article}


def _status(name: str) -> dict[str, Any]:
    return {"type": "status", "params": {"status": name}}


article_machine = Machine(
    {
        "id": "article",
        "initial": "drafting",
        "context": new_article,
        "states": {
            "drafting": {
                "entry": [_status("drafting"), "nextAttempt"],
                "invoke": {
                    "id": "model",
                    "src": "draft",
                    "input": lambda ctx, ev: {"topic": ctx["topic"], "attempt": ctx["attempt"],
                                              "feedback": ctx["errors"], "notes": ctx["notes"]},
                    "onDone": {"target": "validating", "actions": "validate"},
                    "onError": {"target": "failed", "actions": "keepError"},
                },
            },
            "validating": {
                "always": [
                    {"guard": "valid", "target": "awaiting_approval"},
                    {"guard": "attemptsLeft", "target": "drafting"},
                    {"target": "failed"},
                ],
            },
            "awaiting_approval": {
                "entry": _status("awaiting_approval"),
                "tags": ["needs-review"],
                "on": {
                    "APPROVE": {"target": "publishing", "actions": "keepReviewer"},
                    "REQUEST_CHANGES": {"target": "drafting", "actions": ["keepReviewer", "newRound"]},
                    "REJECT": {"target": "rejected", "actions": "keepReviewer"},
                },
            },
            "publishing": {
                "entry": _status("publishing"),
                "invoke": {
                    "id": "publisher",
                    "src": "publish",
                    "input": lambda ctx, ev: {"article": ctx["article"], "author": ctx["author"],
                                              "reviewer": ctx["reviewer"]},
                    "onDone": {"target": "published", "actions": "keepUrl"},
                    "onError": {"target": "awaiting_approval", "actions": "keepError"},
                },
            },
            "published": {"type": "final", "entry": _status("published")},
            "rejected": {"type": "final", "entry": _status("rejected")},
            "failed": {
                "entry": _status("failed"),
                "tags": ["needs-attention"],
                "on": {"RETRY": {"target": "drafting", "actions": "newRound"}},
            },
        },
    },
    actions={
        "status": assign(lambda ctx, ev, params: {"status": params["status"]}),
        "nextAttempt": assign(lambda ctx, ev: {"attempt": ctx["attempt"] + 1}),
        "validate": assign(_validated),
        "keepError": assign(lambda ctx, ev: {"errors": [f"step failed: {ev['error']['message']}"]}),
        "keepReviewer": assign({"reviewer": lambda ctx, ev, *, sender: sender.subject}),
        "newRound": assign(lambda ctx, ev: {"attempt": 0, "errors": [], "notes": ev.get("notes")}),
        "keepUrl": assign(lambda ctx, ev: {"url": ev["output"]["url"]}),
    },
    guards={
        "valid": lambda ctx, ev: ctx["article"] is not None and not ctx["errors"],
        "attemptsLeft": lambda ctx, ev: ctx["attempt"] < ctx["max_attempts"],
    },
)
