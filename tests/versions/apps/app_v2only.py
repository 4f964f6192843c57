"""Onboarding app with versions ("2",) (see onboarding.py)."""

from onboarding import build

app = build(("2",))
