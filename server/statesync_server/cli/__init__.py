"""The `statesync` command (`main.py`: `serve`, `token` and the parser), one module per other
command group: `versions` / `upgrade` (`versions.py`), `timers` / `effects` (`workflow.py`),
`diagram` (`diagram.py`), `types` (`typegen.py`), and `serve --dev`'s reloader
(`dev_reload.py`); start-up mistakes as one line (`startup_errors.py`).

May import: `web`, `engine`, `workflow`, `store` and the model (the package's top-level
modules); never `testing`.
"""

from .main import main

__all__ = ["main"]
