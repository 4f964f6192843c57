"""The model behind each drafting step, and the deterministic stand-in the example ships.

Where a real provider plugs in: a class with `async def draft(self, request, *, key, sleep)
-> str` (the raw text of the model's answer), named by `LLM_MODEL=package.module:factory`;
the factory is called once with no arguments. `request.prompt()` is the whole prompt (the
task, the schema, the feedback of earlier attempts); `key` is stable across retries of one
step (pass it to a provider that deduplicates requests); `sleep(seconds)` waits on the
server's clock (for a provider's Retry-After; virtual in tests). README.md shows one for an
OpenAI-compatible API.

Settings (environment): LLM_MODEL; for the stand-in, LLM_LOCAL_STALL (comma-separated
topics whose first call never answers, to watch the 90 s step timeout) and LLM_MODEL_LOG (a
JSON-lines file recording every request).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from dataclasses import asdict, dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from schema import SCHEMA


@dataclass(frozen=True)
class DraftRequest:
    """One drafting step: the topic, the validation errors of the previous attempt, and the
    editor's notes when changes were requested."""

    topic: str
    attempt: int
    feedback: list[str] = field(default_factory=list)
    notes: str | None = None

    def prompt(self) -> str:
        """The prompt a real model gets."""
        parts = [f"Write a short article about: {self.topic}",
                 "Answer with JSON only, matching this JSON Schema:", json.dumps(SCHEMA)]
        if self.feedback:
            parts += ["Your previous answer was invalid:", *(f"- {e}" for e in self.feedback),
                      "Fix these problems."]
        if self.notes:
            parts.append(f"The editor asks: {self.notes}")
        return "\n".join(parts)


Sleep = Callable[[float], Awaitable[None]]


class Model(Protocol):
    async def draft(self, request: DraftRequest, *, key: str, sleep: Sleep) -> str: ...


class LocalModel:
    """A deterministic stand-in for a language model, so the example runs offline.

    Like a real model it gets things wrong: its first answer has a title that is too long
    and no tags. It fixes exactly the problems the feedback names, so with the validation
    errors as feedback the second attempt is valid. Editor notes end up in the summary.
    """

    def __init__(self, stall_topics: set[str] | None = None, log_path: str | None = None) -> None:
        self.stall_topics = stall_topics or set()
        self.log_path = log_path
        self._stalled: set[str] = set()

    async def draft(self, request: DraftRequest, *, key: str, sleep: Sleep) -> str:
        if self.log_path:
            await asyncio.to_thread(self._log, {**asdict(request), "key": key})
        if request.topic in self.stall_topics and request.topic not in self._stalled:
            self._stalled.add(request.topic)
            await sleep(3600)  # a provider that stops answering (for an hour)
        named = {line.split(":", 1)[0] for line in request.feedback}
        topic = request.topic
        article: dict[str, Any] = {
            "title": f"Everything about {topic}: a complete guide for beginners and experts",
            "summary": f"A short look at {topic}: what it is, why it matters, where to start.",
        }
        if "title" in named:
            article["title"] = topic[:1].upper() + topic[1:60]
        if "tags" in named:
            article["tags"] = sorted({word.lower() for word in topic.split()[:3]})
        if request.notes:
            article["summary"] += f" {request.notes}"
        return json.dumps(article)

    def _log(self, line: dict[str, Any]) -> None:
        with open(self.log_path or "", "a") as log:
            log.write(json.dumps(line) + "\n")


def load_model() -> Model:
    """`LLM_MODEL=module:factory` when set, else the local stand-in."""
    target = os.environ.get("LLM_MODEL")
    if target:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)()
    stall = {t.strip() for t in os.environ.get("LLM_LOCAL_STALL", "").split(",") if t.strip()}
    return LocalModel(stall, os.environ.get("LLM_MODEL_LOG"))
