"""The result cache: reuse a finished unit's outputs in any later workflow of the store."""
