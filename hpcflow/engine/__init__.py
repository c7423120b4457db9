"""The engine: interprets a workflow spec over the state store, one bounded tick at a time."""
