"""Version "1" with a changed config under the same label: must be refused at start-up."""

from onboarding import v1
from statesync import Machine
from statesync_server import App

changed = v1().config
changed = {**changed, "states": {**changed["states"], "engaged": {"type": "final", "tags": ["x"]}}}
app = App()
app.register("onboarding", Machine(changed, actions=v1().actions, delays=v1().delays), version="1")
