"""The ``none`` runtime: run the argv directly on the host, no container."""

from __future__ import annotations

from hpcflow.containers.base import ContainerRun
from hpcflow.errors import ContainerError
from hpcflow.transport import Transport


class NoRuntime:
    """Returns ``run.argv`` unchanged; the caller sets ``run.env`` and the working directory.

    Binds are accepted only when they are identities (target == source), because without a
    container nothing can make a host path appear elsewhere; the image is ignored.
    """

    @property
    def name(self) -> str:
        return "none"

    def command(self, run: ContainerRun) -> list[str]:
        """``list(run.argv)``; raises ContainerError for a bind that would move a path."""
        for bind in run.binds:
            if bind.dest != bind.source:
                raise ContainerError(
                    f"runtime 'none' cannot mount {bind.source!r} at {bind.dest!r}; "
                    "use a container runtime or the host path"
                )
        return list(run.argv)

    def check(self, runner: Transport) -> None:
        """Nothing to check: no binary is needed."""

    def image_problem(self, image: str) -> str | None:
        """No image is used, so none can be wrong."""
        return None
