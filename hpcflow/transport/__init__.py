"""The only place hpcflow runs external commands: always argv lists, never shell strings."""

from hpcflow.transport.local import CommandResult, LocalTransport, Transport

__all__ = ["CommandResult", "LocalTransport", "Transport"]
