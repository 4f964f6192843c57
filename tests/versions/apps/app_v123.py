"""Onboarding app with versions ("1", "2", "3") (see onboarding.py)."""

from onboarding import build

app = build(("1", "2", "3"))
