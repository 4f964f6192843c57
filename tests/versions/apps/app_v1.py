"""Onboarding app with versions ("1",) (see onboarding.py)."""

from onboarding import build

app = build(("1",))
