"""The workflow DSL: objects that only build data (no I/O in constructors)."""
