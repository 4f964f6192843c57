"""statesync: statechart core."""
