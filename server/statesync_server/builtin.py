"""Machines every server provides with no application code: per-user settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from statesync.settings import SETTINGS_MACHINE, owns_settings, settings_machine

from .app import Access, App


class SetSetting(BaseModel):
    key: str = Field(min_length=1, max_length=200)
    value: Any = None


class SetSettings(BaseModel):
    values: dict[str, Any]


class ResetSettings(BaseModel):
    keys: list[str] | None = None


class SettingsContext(BaseModel):
    values: dict[str, Any]


def own_settings(access: Access) -> bool:
    """Only the subject a settings instance belongs to may read or write it."""
    if access.creating and access.context != {"values": {}}:
        return False  # created empty: values arrive only through validated events
    return owns_settings(access.instance, access.subject)


def register_builtins(app: App) -> None:
    """Register the built-in machines on `app` (those it has not registered itself)."""
    if SETTINGS_MACHINE not in app.machines:
        app.register(
            SETTINGS_MACHINE, settings_machine,
            allow_read=own_settings, allow_write=own_settings,
            events={"SET": SetSetting, "SET_MANY": SetSettings, "RESET": ResetSettings},
            context_model=SettingsContext,
        )
