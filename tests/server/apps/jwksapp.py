"""A test app whose tokens come from an identity provider's JWKS URL ($JWKS_URL)."""

import os

from statesync import Machine
from statesync_server import App, AuthConfig

note = Machine({"id": "note", "initial": "open", "context": {}, "states": {"open": {}}})

app = App(auth=AuthConfig(jwks_url=os.environ["JWKS_URL"], issuer="https://idp.test/",
                          audience="notes-api"))
app.register("note", note)
