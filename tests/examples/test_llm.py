"""examples/llm end to end: a real server runs the pipeline with the example's deterministic
stand-in model (the only thing not real: the model is the unreachable outside world)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples_harness import Caller, example, serve, wait_until

from statesync_server.testing import ServerProcess

APP = example("llm")


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("llm")
    process = serve(APP, root / "llm.db", LLM_MODEL_LOG=str(root / "model.jsonl"),
                    LLM_PUBLISH_DIR=str(root / "published"), LLM_LOCAL_STALL="slow provider")
    yield process, root
    process.stop()


@pytest.fixture
def root(llm_server) -> Path:
    return llm_server[1]


@pytest.fixture
def ada(llm_server, callers) -> Caller:
    return callers(llm_server[0], "ada")


@pytest.fixture
def grace(llm_server, callers) -> Caller:
    return callers(llm_server[0], "grace", role="editor")


def model_calls(root: Path, topic: str) -> list[dict[str, Any]]:
    path = root / "model.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["topic"] == topic]


def start(author: Caller, name: str, **input: Any) -> None:
    created = author.create("article", name, input)
    assert created.status_code == 201, created.text


def reviewable(author: Caller, name: str) -> dict[str, Any]:
    return author.wait("article", name, lambda s: s["value"] in ("awaiting_approval", "failed"))


def test_a_draft_is_validated_redrafted_with_the_errors_approved_and_published(
        ada: Caller, grace: Caller, root: Path) -> None:
    start(ada, "a1", topic="durable workflows")
    state = reviewable(ada, "a1")
    assert state["value"] == "awaiting_approval" and state["tags"] == ["needs-review"]
    assert state["context"]["attempt"] == 2
    assert state["context"]["article"]["title"] == "Durable workflows"

    first, second = model_calls(root, "durable workflows")
    assert first["feedback"] == [] and first["attempt"] == 1
    # the second call got the first answer's validation errors as its feedback
    assert second["feedback"] == ["title: String should have at most 60 characters",
                                  "tags: Field required"]
    assert first["key"] != second["key"]  # two steps, each with its own idempotency key

    assert grace.send("article", "a1", {"type": "APPROVE"}).status_code == 200
    done = ada.wait("article", "a1", lambda s: s["done"])
    assert done["value"] == "published" and done["context"]["url"] == "/published/a1.json"
    published = json.loads((root / "published" / "a1.json").read_text())
    assert published["approved_by"] == "grace" and published["author"] == "ada"
    assert published["tags"] == ["durable", "workflows"]

    story = [(e["origin"], e["event"]["type"], e["value"]) for e in ada.log("article", "a1")]
    assert story == [
        ("client", "xstate.init", "drafting"),
        ("service", "xstate.done.actor.model", "drafting"),  # invalid: drafted again
        ("service", "xstate.done.actor.model", "awaiting_approval"),
        ("client", "APPROVE", "publishing"),
        ("service", "xstate.done.actor.publisher", "published"),
    ]


def test_the_pipeline_gives_up_after_n_drafts(ada: Caller, grace: Caller, root: Path) -> None:
    start(ada, "a2", topic="give up early", max_attempts=1)
    failed = reviewable(ada, "a2")
    assert failed["value"] == "failed" and failed["tags"] == ["needs-attention"]
    assert failed["context"]["errors"] == ["title: String should have at most 60 characters",
                                           "tags: Field required"]
    assert len(model_calls(root, "give up early")) == 1
    assert grace.send("article", "a2", {"type": "RETRY"}).status_code == 403  # the author's call
    assert ada.send("article", "a2", {"type": "RETRY"}).status_code == 200
    ada.wait("article", "a2", lambda s: s["value"] == "failed" and s["seq"] > failed["seq"])
    assert len(model_calls(root, "give up early")) == 2  # one more round of at most one draft


def test_only_an_editor_who_is_not_the_author_reviews(ada: Caller, grace: Caller, callers,
                                                      llm_server, root: Path) -> None:
    server = llm_server[0]
    start(ada, "a3", topic="statecharts")
    reviewable(ada, "a3")
    bob = callers(server, "bob")
    assert ada.send("article", "a3", {"type": "APPROVE"}).status_code == 403
    assert bob.get("article", "a3").status_code == 403  # neither author nor editor
    start(grace, "a3-by-grace", topic="editing")
    reviewable(grace, "a3-by-grace")
    assert grace.send("article", "a3-by-grace", {"type": "APPROVE"}).status_code == 403
    for junk in ({"topic": "x"}, None, [], {"topic": "ok topic", "max_attempts": "many"},
                 {"topic": "ok topic", "author": "someone else"}):
        assert ada.create("article", "a3-bad", junk).status_code == 422, junk

    changes = grace.send("article", "a3", {"type": "REQUEST_CHANGES", "notes": "Mention XState."})
    assert changes.status_code == 200, changes.text
    again = ada.wait("article", "a3", lambda s: s["value"] == "awaiting_approval"
                     and (s["context"]["article"] or {}).get("summary", "").endswith("XState."))
    assert again["context"]["reviewer"] == "grace"
    calls = model_calls(root, "statecharts")
    assert [c["notes"] for c in calls] == [None, None, "Mention XState.", "Mention XState."]
    assert grace.send("article", "a3", {"type": "REJECT"}).status_code == 200
    assert ada.state("article", "a3")["value"] == "rejected"


def test_a_model_call_that_stops_answering_times_out_and_is_retried(
        llm_server, ada: Caller, root: Path) -> None:
    server = llm_server[0]
    start(ada, "a4", topic="slow provider")  # the stand-in never answers this topic's first call
    wait_until(lambda: model_calls(root, "slow provider"), what="the first model call")
    server.advance_blocking(seconds=89.9)  # virtual time: the 90 s step timeout, in milliseconds
    assert ada.state("article", "a4")["value"] == "drafting"
    assert len(model_calls(root, "slow provider")) == 1
    server.advance_blocking(seconds=1.5)  # timed out at 90 s; retried after its 1 s backoff
    state = ada.state("article", "a4")
    assert state["value"] == "awaiting_approval"
    calls = model_calls(root, "slow provider")
    # the stalled step was cancelled after the step timeout and run again with the same key
    assert [c["key"] for c in calls[:2]] == [calls[0]["key"]] * 2
    assert len(calls) == 3 and calls[2]["feedback"]
    story = [(e["origin"], e["event"]["type"]) for e in ada.log("article", "a4")]
    assert story.count(("service", "xstate.done.actor.model")) == 2  # the timeout is not an event


def test_the_review_page_lists_drafts_live_and_approves_them(page, llm_server, ada: Caller,
                                                             grace: Caller, root: Path) -> None:
    from playwright.sync_api import expect

    server = llm_server[0]
    page.goto(f"{server.url}/#token={grace.token}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=60_000)
    start(ada, "p1", topic="live queries")
    start(ada, "p2", topic="virtual time")
    first, second = page.locator('[data-article="p1"]'), page.locator('[data-article="p2"]')
    expect(first.locator("h2")).to_have_text("Live queries", timeout=60_000)  # once Pyodide is up
    expect(first).to_contain_text("by ada, draft 2")
    expect(second).to_be_visible()

    first.get_by_role("button", name="Approve").click()
    expect(first).to_have_count(0)  # no longer awaiting review
    second.get_by_label("notes for p2").fill("Shorter, please.")
    second.get_by_role("button", name="Request changes").click()
    expect(second).to_contain_text("Shorter, please.")  # redrafted with the notes, back in the queue
    server.advance_blocking(seconds=0)
    assert ada.state("article", "p1")["value"] == "published"
    assert json.loads((root / "published" / "p1.json").read_text())["approved_by"] == "grace"
    assert ada.state("article", "p2")["context"]["reviewer"] == "grace"
