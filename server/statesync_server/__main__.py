"""`python -m statesync_server serve app.py`."""

from .cli import main

main()
