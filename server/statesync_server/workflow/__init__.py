"""The workflow runtime: what happens after a transition commits. Durable timers
(`timers.py`), effects and invoked services (`effects.py`), messages between instances
(`messages.py`), child instances (`children.py`) and the clock they all run on (`clock.py`);
`workflow.py` plans their rows and runs them.

May import: `store` and the model (the package's top-level modules). The engine above is
handed in (`workflow.EngineLink`), never imported.
"""
