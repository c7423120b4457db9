"""The state store: the only package that speaks SQL."""

from hpcflow.store.db import Store, default_home

__all__ = ["Store", "default_home"]
