"""What the model must produce: an article as JSON, checked by a Pydantic model. The errors
of a failed check go back to the model as feedback."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=5, max_length=60)
    summary: str = Field(min_length=20, max_length=400)
    tags: list[str] = Field(min_length=1, max_length=5)


SCHEMA = Article.model_json_schema()
"""The JSON Schema shown to the model."""


def check(output: str) -> tuple[dict[str, Any] | None, list[str]]:
    """`(article, [])` when `output` is a valid article, else `(None, errors)`: one line per
    problem (`"title: String should have at most 60 characters"`)."""
    try:
        data = json.loads(output)
    except ValueError as exc:
        return None, [f"output: not JSON ({exc})"]
    try:
        return Article.model_validate(data).model_dump(), []
    except ValidationError as exc:
        return None, [f"{'.'.join(map(str, e['loc'])) or 'output'}: {e['msg']}" for e in exc.errors()]
