"""statesync server."""
