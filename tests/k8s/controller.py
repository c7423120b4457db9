"""The test cluster's Job controller and kubelet, over the emulator's object store.

- Job controller: for each Indexed Job, one pod per index that is neither completed nor
  failed, at most ``parallelism`` at once; a failed pod is replaced until the index has
  failed ``backoffLimitPerIndex + 1`` times; ``completedIndexes`` / ``failedIndexes``,
  the Complete/Failed conditions, ``activeDeadlineSeconds`` and ``ttlSecondsAfterFinished``.
- Kubelet: runs each pod's container command FOR REAL with ``ch-run`` in the image the pod
  names (mapped to an image directory), with the pod's env (``envFrom`` Secrets resolved,
  ``JOB_COMPLETION_INDEX`` set) and its ConfigMap volumes written out and bound at their
  mount paths; then writes the pod's phase and exit code. Pods asking for more GPUs than
  the node has stay Pending with ``PodScheduled=False, reason=Unschedulable``.

Fault hooks for tests: ``lose_first_pod`` (indices whose first pod dies as on a lost node,
without running) and ``hold`` (pods are marked Running but nothing runs: for counting
API calls over a thousand indices without a thousand containers).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from hpcflow.containers.base import Bind, ContainerRun
from hpcflow.containers.charliecloud import CharliecloudRuntime
from tests.k8s.emulator import Emulator, now_iso

JOB_LABEL = "batch.kubernetes.io/job-name"
INDEX = "batch.kubernetes.io/job-completion-index"
NODE = "emu-node-1"


class TestCluster:
    """Reconciles Jobs and runs pods in a background thread until :meth:`stop`."""

    __test__ = False  # not a pytest class

    def __init__(self, emu: Emulator, images: dict[str, str], namespace: str = "default",
                 node_gpus: int = 0, max_running: int = 2) -> None:
        self.emu = emu
        self.images = images
        self.ns = namespace
        self.node_gpus = node_gpus
        self.max_running = max_running
        self.lose_first_pod: set[int] = set()
        self.hold = False
        self.ran: list[tuple[str, int]] = []  # (job, index) of every container that ran
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lost: set[tuple[str, int]] = set()
        self._volumes = Path(tempfile.mkdtemp(prefix="hpcflow-kubelet-"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> TestCluster:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for proc in list(self._procs.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception as exc:  # keep the cluster alive; the test sees what failed
                print(f"test cluster: {type(exc).__name__}: {exc}")
            self._stop.wait(0.2)

    # -- one pass ---------------------------------------------------------------------
    def reconcile(self) -> None:
        for job in self.emu.list("jobs", self.ns):
            self._job(job)
        for pod in self.emu.list("pods", self.ns):
            self._kubelet(pod)
        self._kill_orphans()

    def _job(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        spec, status = job["spec"], job.get("status") or {}
        if any(c["type"] in ("Complete", "Failed") for c in status.get("conditions") or []):
            self._expire(job)
            return
        count = spec["completions"]
        limit = spec.get("backoffLimitPerIndex", 0)
        pods = [p for p in self.emu.list("pods", self.ns, f"{JOB_LABEL}={name}")]
        done, failed, failures = set(), set(), status.get("uncountedFailures") or {}
        failures = {int(k): v for k, v in (status.get("hpcflowFailures") or {}).items()}
        active: dict[int, dict[str, Any]] = {}
        for pod in pods:
            index = int(pod["metadata"]["annotations"][INDEX])
            phase = pod["status"].get("phase")
            seen = pod["metadata"].get("annotations", {}).get("emulator/counted")
            if phase == "Succeeded":
                done.add(index)
            elif phase == "Failed":
                if not seen:
                    failures[index] = failures.get(index, 0) + 1
                    self.emu.update("pods", self.ns, pod["metadata"]["name"],
                                    lambda o: o["metadata"]["annotations"].__setitem__("emulator/counted", "1"))
            else:
                active[index] = pod
        failed = {i for i, n in failures.items() if n > limit and i not in done}
        started = status.get("startTime") or now_iso()
        deadline = spec.get("activeDeadlineSeconds")
        conditions: list[dict[str, Any]] = []
        if deadline and time.time() - _ts(started) > deadline:
            conditions = [_cond("Failed", "DeadlineExceeded")]
            for pod in active.values():
                self.emu.delete("pods", self.ns, pod["metadata"]["name"])
            active = {}
        else:
            room = spec.get("parallelism", count) - len(active)
            for index in range(count):
                if room <= 0:
                    break
                if index in done or index in failed or index in active:
                    continue
                self._create_pod(job, index)
                room -= 1
            if len(done) + len(failed) == count:
                conditions = [_cond("Failed", "FailedIndexes") if failed else _cond("Complete", "")]
        new_status = {
            "startTime": started, "active": len(active), "succeeded": len(done), "failed": sum(failures.values()),
            "completedIndexes": _ranges(done), "failedIndexes": _ranges(failed),
            "hpcflowFailures": {str(k): v for k, v in failures.items()},
        }
        if conditions:
            new_status["conditions"] = conditions
            new_status["completionTime"] = now_iso()
        if new_status != {k: status.get(k) for k in new_status}:
            self.emu.update("jobs", self.ns, name, lambda o: o.__setitem__("status", new_status))

    def _expire(self, job: dict[str, Any]) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        finished = (job.get("status") or {}).get("completionTime")
        if ttl is not None and finished and time.time() - _ts(finished) >= ttl:
            self.emu.delete("jobs", self.ns, job["metadata"]["name"])

    def _create_pod(self, job: dict[str, Any], index: int) -> None:
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        labels = dict(template["metadata"].get("labels") or {})
        labels.update({JOB_LABEL: name, "job-name": name, INDEX: str(index)})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{name}-{index}-{uuid.uuid4().hex[:5]}", "labels": labels,
                            "annotations": {INDEX: str(index)},
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                                 "uid": job["metadata"]["uid"], "controller": True}]},
               "spec": template["spec"], "status": {"phase": "Pending"}}
        self.emu.create("pods", self.ns, pod)

    # -- kubelet ----------------------------------------------------------------------
    def _kubelet(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        phase = pod["status"].get("phase")
        if phase == "Pending" and name not in self._procs:
            if self._gpus(pod) > self.node_gpus:
                self._unschedulable(pod)
                return
            running = sum(1 for p in self._procs.values() if p.poll() is None)
            if running >= self.max_running:
                return
            job, index = pod["metadata"]["labels"][JOB_LABEL], int(pod["metadata"]["annotations"][INDEX])
            if index in self.lose_first_pod and (job, index) not in self._lost:
                self._lost.add((job, index))
                self._finish(name, 137, "Error")  # the node died under it
                return
            if self.hold:
                self.emu.update("pods", self.ns, name, lambda o: o["status"].update(
                    phase="Running", startTime=now_iso()))
                return
            self._run(pod)
        elif phase == "Running" and name in self._procs:
            code = self._procs[name].poll()
            if code is not None:
                self._finish(name, code, "Completed" if code == 0 else "Error")

    def _gpus(self, pod: dict[str, Any]) -> int:
        total = 0
        for c in pod["spec"]["containers"]:
            total += int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
        return total

    def _unschedulable(self, pod: dict[str, Any]) -> None:
        conds = pod["status"].get("conditions") or []
        if any(c.get("reason") == "Unschedulable" for c in conds):
            return
        self.emu.update("pods", self.ns, pod["metadata"]["name"], lambda o: o["status"].__setitem__(
            "conditions", [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": f"0/1 nodes are available: 1 Insufficient nvidia.com/gpu ({NODE} has {self.node_gpus})",
                            "lastTransitionTime": now_iso()}]))

    def _run(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        env = {"HOSTNAME": name, "JOB_COMPLETION_INDEX": pod["metadata"]["annotations"][INDEX]}
        for source in container.get("envFrom") or []:
            secret = self.emu.get("secrets", self.ns, source["secretRef"]["name"])
            if secret is None:
                self._finish(name, 1, "CreateContainerConfigError")
                return
            env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        env.update({e["name"]: e["value"] for e in container.get("env") or []})
        binds = []
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            source = self._volume(volumes[mount["name"]])
            binds.append(Bind(str(source), mount["mountPath"]))
        image = self.images.get(container["image"])
        if image is None:
            self._finish(name, 1, "ErrImagePull")
            return
        argv = CharliecloudRuntime().command(ContainerRun(image=image, argv=list(container["command"]),
                                                          binds=binds, env=env, workdir=None))
        log = open(self._volumes / f"{name}.log", "wb")
        host_env = dict(os.environ)
        host_env.setdefault("USER", "root" if os.geteuid() == 0 else str(os.geteuid()))  # ch-run wants it
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=host_env)
        log.close()
        self._procs[name] = proc
        job, index = pod["metadata"]["labels"][JOB_LABEL], int(pod["metadata"]["annotations"][INDEX])
        self.ran.append((job, index))
        self.emu.update("pods", self.ns, name, lambda o: (o["spec"].__setitem__("nodeName", NODE),
                                                          o["status"].update(phase="Running", startTime=now_iso())))

    def _volume(self, volume: dict[str, Any]) -> Path:
        cm = self.emu.get("configmaps", self.ns, volume["configMap"]["name"])
        target = self._volumes / "cm" / volume["configMap"]["name"]
        if not target.exists():
            target.mkdir(parents=True)
            for key, value in ((cm or {}).get("binaryData") or {}).items():
                (target / key).write_bytes(base64.b64decode(value))
            for key, value in ((cm or {}).get("data") or {}).items():
                (target / key).write_text(value)
        return target

    def _finish(self, name: str, code: int, reason: str) -> None:
        def change(o: dict[str, Any]) -> None:
            o["status"].update(phase="Succeeded" if code == 0 else "Failed", containerStatuses=[
                {"name": "step", "state": {"terminated": {"exitCode": code, "reason": reason,
                                                         "finishedAt": now_iso()}}}])
        self.emu.update("pods", self.ns, name, change)

    def _kill_orphans(self) -> None:
        """Containers of deleted pods are killed, as a kubelet does."""
        alive = {p["metadata"]["name"] for p in self.emu.list("pods", self.ns)}
        for name, proc in list(self._procs.items()):
            if name not in alive:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                del self._procs[name]

    def pod_log(self, name: str) -> str:
        path = self._volumes / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self._volumes.glob("*.log")))


def _cond(kind: str, reason: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": now_iso()}


def _ts(text: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _ranges(indices: set[int]) -> str:
    out, items = [], sorted(indices)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)
