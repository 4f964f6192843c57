"""`python -m statesync_server serve app.py`."""

from .cli.main import main

main()
