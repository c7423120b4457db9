"""Workflow: build a spec from steps, submit it to the store, wait, query and restart."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from hpcflow.dsl.containers import DAG, Steps
from hpcflow.dsl.step import Step, check_name
from hpcflow.errors import SpecError
from hpcflow.spec.model import WorkflowSpec

if TYPE_CHECKING:  # a job imports this module with the user's OPs: it never queries or submits
    from hpcflow.dsl.query import StepInfo
    from hpcflow.settings import Settings


class Workflow:
    """A workflow (Dflow's ``Workflow``): ``add`` steps, ``submit``, ``wait``, ``query_step``."""

    def __init__(
        self,
        name: str = "workflow",
        steps: Steps | None = None,
        dag: DAG | None = None,
        id: str | None = None,
        parameters: dict[str, Any] | None = None,
        parallelism: int | None = None,
        site: str | None = None,
        **ignored: Any,
    ) -> None:
        self.name = check_name("workflow", name)
        if steps is not None and dag is not None:
            raise SpecError(f"workflow {name}: give steps or dag, not both")
        self.entry: Steps | DAG = steps or dag or Steps(name=f"{name}-steps")
        self.parameters = dict(parameters or {})
        self.parallelism = parallelism
        self.site = site
        self.id = id
        self.ignored_options = sorted(ignored)
        self._submitted = id is not None

    # ------------------------------------------------------------------------ building

    def add(self, step: Step | list[Step]) -> None:
        self.entry.add(step)  # type: ignore[arg-type]  # a DAG entry takes Tasks; DAG.add checks

    def __enter__(self) -> Workflow:
        from hpcflow import context

        context.push(self)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        from hpcflow import context

        context.pop(self)
        if exc_type is None and not self._submitted:
            self.submit()

    def build(self) -> WorkflowSpec:
        """Compile and validate into the typed spec; SpecError before anything is stored."""
        from hpcflow.spec.build import SpecBuilder

        return SpecBuilder().workflow(self.name, self.entry, self.parameters)

    def to_spec(self) -> dict[str, Any]:
        """The compiled spec as the store keeps it (``build().to_json()``)."""
        return self.build().to_json()

    # ---------------------------------------------------------------------- lifecycle

    @property
    def _client(self) -> Any:
        from hpcflow.client import get_client

        return get_client(self.site)

    def submit(self, reuse_step: list[StepInfo] | None = None, **ignored: Any) -> str:
        """Record the workflow in the store and return its id (it runs when driven)."""
        _start_fork_server_early(self.site)  # before the imports below: they take ~25 ms
        from hpcflow.client import remember_unwaited
        from hpcflow.engine.job_env import capture_launch, modules_in_spec
        from hpcflow.python import upload_packages

        client = self._client
        if not _settings().submit_only:
            warm_up = getattr(client.scheduler, "warm_up", None)
            if warm_up is not None:
                warm_up()  # the fork server boots while the spec compiles
        model = self.build()
        spec = model.to_json()
        from hpcflow import config
        from hpcflow.engine.limits import check_partition_limits

        reuse = [s.reuse_record() for s in (reuse_step or [])]
        launch = capture_launch(modules_in_spec(spec), upload_packages, _settings().python_path,
                                debug_mode=config.get("mode") == "debug")
        if getattr(client, "remote", False):  # a remote site: the login node's store
            self.id = client.submit_spec(self.name, spec, reuse, launch)
            self._submitted = True
            remember_unwaited(self.id, client)
            return self.id
        check_partition_limits(model, client.settings)  # the site's limits, before anything is stored
        wf_id = f"{self.name}-{os.urandom(3).hex()}"  # as secrets.token_hex
        work_dir = client.settings.work_root / wf_id
        from hpcflow.private import make_dirs

        make_dirs(work_dir, client.settings.work_dir_mode)
        client.store.create_workflow(wf_id, self.name, spec, str(work_dir),
                                     site={"name": client.site_name}, reuse=reuse,
                                     launch=launch.to_json())
        self.id = wf_id
        self._submitted = True
        remember_unwaited(wf_id, client)
        from hpcflow import config

        if config.get("mode") == "debug" and not _settings().submit_only:
            self.wait()  # Dflow's debug mode returns from submit() when the workflow has ended
        return wf_id

    def _require_id(self) -> str:
        if self.id is None:
            raise SpecError(f"workflow {self.name} has not been submitted")
        return self.id

    def wait(self, timeout: float | None = None, interval: float | None = None) -> str:
        """Run (local mode) or watch the workflow until it ends; return its final status."""
        from hpcflow.client import forget_unwaited

        wf_id = self._require_id()
        if _settings().submit_only:  # `hpcflow submit`: the daemon drives it
            raise SystemExit(0)
        status: str = self._client.wait(wf_id, timeout=timeout, interval=interval)
        if status in ("Succeeded", "Failed"):
            forget_unwaited(wf_id)
        return status

    def query_status(self) -> str:
        """"Pending", "Running", "Succeeded" or "Failed"; drives the workflow one tick if
        nothing else does, so Dflow-style polling loops finish it."""
        wf_id = self._require_id()
        client = self._client
        status: str = client.store.workflow_status(wf_id)
        if _settings().submit_only and status in ("Pending", "Running"):
            raise SystemExit(0)  # `hpcflow submit` stops the script at its first poll
        if status in ("Pending", "Running") and not client.is_driving(wf_id):
            client.tick_once(only={wf_id})  # nothing drives it: this poll does one step
            status = client.store.workflow_status(wf_id)
        return status

    def query(self) -> dict[str, Any]:
        record: dict[str, Any] = self._client.store.get_workflow(self._require_id())
        return record

    def query_step(self, name: Any = None, key: Any = None, phase: Any = None, type: Any = None,
                   sort_by_generation: bool = True, **ignored: Any) -> list[StepInfo]:
        """Steps of this workflow filtered by name, key, phase or type (each may be a list)."""
        wf_id = self._require_id()
        from hpcflow.dsl.query import step_infos

        return step_infos(self._client.store, wf_id, name=name, key=key, phase=phase, type=type)

    def query_step_by_key(self, key: Any) -> list[StepInfo]:
        return self.query_step(key=key)

    def query_keys_of_steps(self) -> list[str]:
        return [s.key for s in self.query_step() if s.key]

    def query_global_outputs(self) -> Any:
        root = [s for s in self.query_step() if s.path == ""]
        return root[0].outputs if root else None

    def terminate(self) -> None:
        from hpcflow.client import forget_unwaited

        wf_id = self._require_id()
        client = self._client
        if getattr(client, "remote", False):
            client.cancel(wf_id)
        else:
            with client.lock:
                client.engine(only={wf_id}).cancel(wf_id)
        forget_unwaited(wf_id)


def _start_fork_server_early(site: str | None) -> None:
    """Plain local mode, first submission of this process: boot the fork server before
    the engine is imported (its start-up then overlaps ours; see ``local.py``)."""
    config = _settings()
    if site or config.site_file or config.submit_only or not config.fork_server:
        return
    if "hpcflow.client" in sys.modules:  # a client may exist: its scheduler warms up itself
        return
    from hpcflow.scheduler.fork_client import start_fork_server_early

    start_fork_server_early()


def _settings() -> Settings:
    """This process's settings, imported on first use: a job imports this module with its
    OPs' module and never submits (hpcflow.settings needs pathlib, ~3.5 ms a task)."""
    from hpcflow.settings import current

    return current()
