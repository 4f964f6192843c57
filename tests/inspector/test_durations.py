"""The inspector's durations (durations.js) read like the CLI's (durations.py): `7d 2h`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import statesync_server
from statesync_server.durations import human_duration

DURATIONS_JS = Path(statesync_server.__file__).parent / "web" / "inspector" / "durations.js"
SAMPLES = [0, 0.05, 0.123456, 1.5, 42, 59.94, 60, 90, 3599, 3600, 3661, 86400, 90061,
           7 * 86400 + 7259, 2591760.0, -0.5, -90, -1209228.8]


def test_the_inspector_writes_durations_as_the_cli_does() -> None:
    script = (f"const {{duration}} = await import({json.dumps(DURATIONS_JS.as_uri())});"
              f"console.log(JSON.stringify({json.dumps(SAMPLES)}.map(duration)));")
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [human_duration(s) for s in SAMPLES]
    assert human_duration(-1209228.8) == "-13d 23h"
