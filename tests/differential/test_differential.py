"""statesync versus the real XState v5: same configs, same events, same observations.

After the start and after every step both sides report value, context, tags (sorted), status,
output and the effects that ran, in order (see ``pyrunner.py`` and ``tests/js/xstate_runner.js``).

- ``test_hand_written_cases``: every feature, ``cases.py``, as one batch.
- ``test_generated_cases``: ``DIFF_GENERATED`` (default 1000) random machines from seeded
  ``random`` in batches of 200 (one request each to a shared node process). ``DIFF_SEED`` picks another deterministic set;
  ``DIFF_SHRINK=1`` adds a shrunk reproduction of the first failing case of a batch.
- ``test_generated_shrinking``: a few hypothesis examples, one request each, so that a
  failure is shrunk to a small machine.

Requires node and ``tests/js/node_modules`` (``cd tests/js && npm ci``); skipped otherwise.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings

from . import cases_v5, generate, harness, ported, ported_actors, shrink  # noqa: F401 (they register cases)
from .cases import CASES

_missing = harness.xstate_missing_reason()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")

GENERATED = int(os.environ.get("DIFF_GENERATED", "1000"))
SEED = int(os.environ.get("DIFF_SEED", "20261125"))
BATCH = 200
SHRINK_EXAMPLES = int(os.environ.get("DIFF_SHRINK_EXAMPLES", "15"))
SHRINK = os.environ.get("DIFF_SHRINK", "") not in ("", "0")  # shrink the first failing case


def _report(found: list[str], total: int) -> str:
    shown = "\n\n".join(found[:5])
    more = f"\n\n... and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{len(found)} of {total} cases differ from XState:\n\n{shown}{more}"


def test_hand_written_cases_are_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 60


def test_hand_written_cases() -> None:
    cases = [c for c in CASES if "quirk" not in c]
    found = harness.mismatches(cases)
    assert not found, _report(found, len(cases))


@pytest.mark.parametrize(
    "case", [c for c in CASES if "quirk" in c], ids=lambda c: c["name"][:60])
def test_xstate_quirks(case: dict) -> None:
    """Cases where XState itself reaches an illegal configuration: the runner must flag it
    (so generated cases stop comparing there) and statesync must agree up to that step."""
    observations = harness.run_xstate([case])[0]["observations"]
    assert any(o.get("xstateInconsistent") for o in observations), case["quirk"]
    assert not harness.mismatches([case])


@pytest.mark.parametrize("batch", range((GENERATED + BATCH - 1) // BATCH))
def test_generated_cases(batch: int) -> None:
    count = min(BATCH, GENERATED - batch * BATCH)
    cases = generate.random_cases(count, seed=SEED + batch)
    found = harness.mismatching_cases(cases, max_error_cases=2)
    messages = [msg for _, msg in found]
    if found and SHRINK:
        small = shrink.shrink(found[0][0])
        messages[0] += f"\n  shrunk:    {json.dumps(small)}"
    assert not found, _report(messages, len(cases))


GENERATED_V5 = int(os.environ.get("DIFF_GENERATED_V5", "400"))


@pytest.mark.parametrize("batch", range((GENERATED_V5 + BATCH - 1) // BATCH))
def test_generated_v5_cases(batch: int) -> None:
    """Random machines that also emit, log, run enqueue_actions programs, carry meta and use
    guard aliases (generate.py ``v5``)."""
    count = min(BATCH, GENERATED_V5 - batch * BATCH)
    cases = generate.random_cases(count, seed=SEED + 1000 + batch, v5=True)
    found = harness.mismatching_cases(cases, max_error_cases=2)
    messages = [msg for _, msg in found]
    if found and SHRINK:
        small = shrink.shrink(found[0][0])
        messages[0] += f"\n  shrunk:    {json.dumps(small)}"
    assert not found, _report(messages, len(cases))


@settings(max_examples=SHRINK_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generate.cases())
def test_generated_shrinking(case: dict) -> None:
    found = harness.mismatches([case])
    assert not found, found[0]
