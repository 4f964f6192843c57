"""Food delivery: an order passed between a customer, a restaurant and a courier.

Run it:   statesync serve examples/orders/app.py      then open http://127.0.0.1:8000/
Tokens:   statesync token --sub ada --claim role=customer
          statesync token --sub luigi --claim role=restaurant
          statesync token --sub bob --claim role=courier

Roles come from the token's `role` claim and are enforced here, by authorizers: customers
submit and cancel their own orders, a restaurant answers offers made to it, couriers take jobs
and deliver the ones they were given. What each reader sees is `public_view`: the payment
details reach the customer and nobody else, on every read path.

Setting (environment): ORDERS_LATEST_VERSION=1 serves the app as it was before version 2
(to try the upgrade, README.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from machines import PARTNERS, order_v1, order_v2
from pydantic import BaseModel, ConfigDict, Field

from statesync_server import Access, App, ErrorCode, Index, Migration, StatesyncError

RESTAURANTS = PARTNERS | {"corner-deli"}
"""The restaurants orders may go to (`corner-deli` has no partnership)."""


# --- what may be sent ------------------------------------------------------------------------


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    qty: int = Field(ge=1, le=50)
    price_cents: int = Field(ge=0, le=100_000)


class Payment(BaseModel):
    """Kept as the customer gave it, shown only to them (`public_view`)."""

    method: Literal["card"] = "card"
    card_last4: str = Field(pattern=r"^[0-9]{4}$")
    holder: str = Field(min_length=1, max_length=100)


class OrderInput(BaseModel):
    """The input of a new order (`POST /v1/instances/order/<name>`); the customer is whoever
    submits it."""

    model_config = ConfigDict(extra="forbid")
    restaurant: str
    items: list[Item] = Field(min_length=1, max_length=50)
    address: str = Field(min_length=1, max_length=300)
    payment: Payment


class Accept(BaseModel):
    prep_seconds: float = Field(ge=0, le=4 * 3600)
    """When the food will be ready: the courier is requested then."""


class Reject(BaseModel):
    reason: str = Field(default="", max_length=200)


EVENTS: dict[str, type[BaseModel] | None] = {
    "ACCEPT": Accept, "REJECT": Reject, "CANCEL": None,
    "ACCEPT_JOB": None, "PICKED_UP": None, "DELIVERED": None,
}


# --- who may read and write ------------------------------------------------------------------


def role(access: Access | Mapping[str, Any]) -> str | None:
    claims = access.claims if isinstance(access, Access) else access
    return claims.get("role")


def is_open_job(context: Mapping[str, Any]) -> bool:
    """An order waiting for a courier: every courier may see (and take) it."""
    return context["status"] == "awaiting_courier" and context["courier"] is None


def may_read(access: Access) -> bool:
    """The customer, the restaurant, and couriers while it is an open job or theirs."""
    ctx, who = access.context, access.subject
    if role(access) == "customer":
        return who == ctx["customer"]
    if role(access) == "restaurant":
        return who == ctx["restaurant"]
    if role(access) == "courier":
        return who == ctx["courier"] or is_open_job(ctx)
    return False


RESTAURANT_EVENTS = {"ACCEPT", "REJECT"}
COURIER_EVENTS = {"PICKED_UP", "DELIVERED"}


def may_write(access: Access) -> bool:
    """Each role sends its own events, and only to orders it may read."""
    if access.creating:
        return role(access) == "customer" and _input_is_an_order(access)
    if not may_read(access):
        return False
    kind = (access.event or {}).get("type")
    if kind == "CANCEL":
        return role(access) == "customer"
    if kind in RESTAURANT_EVENTS:
        return role(access) == "restaurant"
    if kind == "ACCEPT_JOB":  # the machine assigns the sender: nobody takes a job for another
        return role(access) == "courier"
    if kind in COURIER_EVENTS:
        return role(access) == "courier" and access.context["courier"] == access.subject
    return False


def _input_is_an_order(access: Access) -> bool:
    """True when the order is for a restaurant we know (`input_model` checked its shape
    before the machine read it); a structured `invalid-event` otherwise."""
    restaurant = (access.event or {})["input"]["restaurant"]
    if restaurant not in RESTAURANTS:
        raise StatesyncError(ErrorCode.INVALID_EVENT, f"unknown restaurant {restaurant!r}")
    return True


# --- what each reader sees -------------------------------------------------------------------


def public_view(context: dict[str, Any], reader: Mapping[str, Any]) -> dict[str, Any]:
    """The customer sees everything; the restaurant what to cook; a courier where to go.
    Payment details go to the customer only."""
    shared = {key: context.get(key) for key in ("status", "restaurant", "courier", "offers")}
    who = reader.get("sub")
    if role(reader) == "customer" and who == context["customer"]:
        return {**shared, "customer": context["customer"], "items": context["items"],
                "total_cents": context["total_cents"], "address": context["address"],
                "payment": context["payment"], "reason": context["reason"]}
    if role(reader) == "restaurant" and who == context["restaurant"]:
        return {**shared, "items": context["items"], "total_cents": context["total_cents"],
                "prep_seconds": context["prep_seconds"], "open_at": context["open_at"]}
    if role(reader) == "courier":
        return {**shared, "address": context["address"],
                "items": [{"name": i["name"], "qty": i["qty"]} for i in context["items"]]}
    return shared


def public_event(event: dict[str, Any], reader: Mapping[str, Any]) -> dict[str, Any]:
    """In the event log: why an order was rejected, when it will be ready, who took it.
    The creation input (payment included) stays private."""
    return {key: event[key] for key in ("reason", "prep_seconds", "courier") if key in event}


# --- the app ---------------------------------------------------------------------------------

POLICIES: dict[str, Any] = {
    "allow_read": may_read,
    "allow_write": may_write,
    "public_context": public_view,
    "public_event": public_event,
    "events": EVENTS,
    "input_model": OrderInput,  # checked before new_order reads the input
    "indexes": {
        "open_at": "open_at",  # a restaurant's open orders: `watch("order", "open_at", "eq", me)`
        "status": Index("status", public=True),  # couriers' job board: status eq awaiting_courier
        "customer": "customer",
    },
}

app = App(static_dir=Path(__file__).parent / "static")
app.register("order", order_v1, version="1", **POLICIES)
if os.environ.get("ORDERS_LATEST_VERSION", "2") != "1":
    app.register("order", order_v2, version="2", **POLICIES)
    app.add_migration(Migration(
        "order", "1", "2",
        state={},  # every state of version 1 is in version 2, at the same path
        context=lambda ctx: {**ctx, "partner": True},  # version 1 only knew partners
    ))
