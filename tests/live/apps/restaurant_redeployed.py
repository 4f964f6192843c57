"""The restaurant app after a deploy (tests/live/test_live_end.py restarts the server into it):
the `status` index is gone, and the kitchen's view of an order lists its items as one line of
text, which fails for an order whose items are not all strings (a projection bug)."""

from __future__ import annotations

from restaurant import may_read, order, public

from statesync_server import App, Index


def kitchen_view(ctx: dict, reader: dict) -> dict:
    shown = public(ctx, reader)
    if "restaurant" in reader:  # staff
        shown["items"] = ", ".join(ctx["items"])  # TypeError on an item that is not a string
    return shown


app = App()
app.register("order", order, allow_read=may_read, public_context=kitchen_view,
             indexes={"restaurant": "restaurant", "tip": "tip",
                      "code": Index("code", public=False)})
