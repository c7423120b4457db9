"""The error tree of hpcflow.

Every error hpcflow raises on purpose derives from :class:`HpcflowError`, so the CLI can
turn them into one clear line and an exit code in one place. Errors that may pass if
tried again (a controller that does not answer, a site limit) carry ``transient = True``.
"""

from __future__ import annotations


class HpcflowError(Exception):
    """Root of every error hpcflow raises deliberately."""

    transient: bool = False


class SpecError(HpcflowError):
    """A workflow, template or step is malformed; raised before anything runs."""


class OPSignatureError(HpcflowError, TypeError):
    """An OP's inputs or outputs do not match its declared signature."""


class ExpressionError(SpecError):
    """A ``when``, ``{{...}}`` placeholder or ``{{=...}}`` expression cannot be parsed or evaluated."""


class ConfigError(HpcflowError):
    """A site configuration or user setting is invalid."""


class StoreError(HpcflowError):
    """The SQLite state store could not be read or written."""


class WorkflowNotFound(HpcflowError):
    """No workflow with the given id or name exists in the store."""


class SchedulerError(HpcflowError):
    """A batch scheduler command failed."""


class SchedulerUnavailable(SchedulerError):
    """The scheduler's controller did not answer; try again later, never mark jobs failed."""

    transient = True


class SubmissionDeferred(SchedulerError):
    """The scheduler refused a submission for a site limit (QOS, MaxSubmitJobs); retry later."""

    transient = True


class CorruptRecord(HpcflowError):
    """A record file of an attempt (task.json, outputs.json, exit.json) cannot be parsed."""


class ContainerError(HpcflowError):
    """A container image or runtime is missing or unusable."""


class StorageError(HpcflowError):
    """An artifact could not be stored, fetched or verified."""


class ChecksumMismatch(StorageError):
    """An artifact's content does not match the hash recorded when it was published."""


class TransportError(HpcflowError):
    """A command could not be run locally or over SSH."""


class MissingExtra(HpcflowError):
    """An optional part of hpcflow needs packages that are not installed (a pip extra)."""


class NotSupported(HpcflowError):
    """A Dflow feature that only makes sense on Argo, Kubernetes or Bohrium (or is not built
    yet) was used; the message names the hpcflow alternative."""


class SshError(TransportError):
    """The SSH connection to a site failed (not the remote command)."""


class SshDisconnected(SshError):
    """No connection to the site (server down, network gone, too soon to reconnect): the
    site is *disconnected*; nothing is marked failed and work resumes after reconnection."""

    transient = True


class SshAuthError(SshError):
    """The server refused to log in (wrong key, expired login): run ``hpcflow login SITE``.

    Transient for the engine (nothing fails while a person logs in again)."""

    transient = True


class SshHostKeyError(SshError):
    """The server's host key is unknown or changed; a person must check and accept it."""

    transient = True


class RemoteError(HpcflowError):
    """The hpcflow on the other side of an SSH site answered with an error or not at all."""


class VersionMismatch(RemoteError):
    """The workstation's and the login node's hpcflow are different versions."""
