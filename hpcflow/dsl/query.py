"""Read-side views of steps (Dflow's ArgoStep): phase, key, outputs, and outputs to modify
before reusing a step in a restarted workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpcflow import codec

if TYPE_CHECKING:  # a job importing the workflow script needs no sqlite3
    from hpcflow.store.db import Store


class _Value:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<value {self.value!r}>"


class StepOutputs:
    """``step.outputs.parameters["x"].value`` and ``step.outputs.artifacts["y"]``."""

    def __init__(self, raw: dict[str, Any] | None) -> None:
        import copy  # (and weakref) not at import: a job importing a module of OPs never queries

        self.raw = copy.deepcopy(raw or {"parameters": {}, "artifacts": {}})

    @property
    def parameters(self) -> dict[str, _Value]:
        return {k: _Value(codec.decode(v)) for k, v in self.raw.get("parameters", {}).items()}

    @property
    def artifacts(self) -> dict[str, Any]:
        from hpcflow.spec.build import StoredArtifact

        return {k: StoredArtifact(v) for k, v in self.raw.get("artifacts", {}).items() if v is not None}


class StepInfo:
    """One step as stored: name, phase, key, type, inputs and outputs."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.path: str = row["path"]
        self.name: str = row["name"]
        self.display_name = row["name"]
        self.phase: str = row["phase"]
        self.key: str | None = row["key"]
        self.type: str = row["type"]
        self.template: str | None = row["template"]
        self.message: str | None = row["message"]
        self.slice_index = row["slice_index"]
        self.attempts: int = row["attempts"]
        self.startedAt = row["started_at"]
        self.finishedAt = row["finished_at"]
        self.outputs = StepOutputs(row["outputs"])
        self.inputs = StepOutputs(row["inputs"])
        #: A result-cache hit: ``{"workflow", "step", "key"}`` of the run it reused, else None.
        self.cached: dict[str, str] | None = (row.get("data") or {}).get("cached")

    def modify_output_parameter(self, name: str, value: Any) -> None:
        self.outputs.raw.setdefault("parameters", {})[name] = codec.encode(value)

    def modify_output_artifact(self, name: str, artifact: Any) -> None:
        from hpcflow.runtime.integrity import leaves

        value = getattr(artifact, "value", artifact)
        artifacts = self.outputs.raw.setdefault("artifacts", {})
        hashes = self.outputs.raw.get("hashes") or {}
        for path in leaves(artifacts.get(name)):  # the user vouches for the new content
            hashes.pop(path, None)
        artifacts[name] = str(value) if not isinstance(value, (list, dict)) else value

    def reuse_record(self) -> dict[str, Any]:
        if not self.key:
            raise ValueError(f"step {self.name} has no key and cannot be reused")
        return {"key": self.key, "outputs": self.outputs.raw, "phase": self.phase}

    def __repr__(self) -> str:
        return f"<StepInfo {self.path or self.name} {self.phase} key={self.key}>"


def _as_set(value: Any) -> set[str] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def step_infos(store: Store, wf_id: str, name: Any = None, key: Any = None, phase: Any = None,
               type: Any = None) -> list[StepInfo]:
    names, keys, phases, types = _as_set(name), _as_set(key), _as_set(phase), _as_set(type)
    out = []
    for row in store.load_nodes(wf_id):
        base = row["name"].split("(", 1)[0]
        if names is not None and row["name"] not in names and base not in names:
            continue
        if keys is not None and row["key"] not in keys:
            continue
        if phases is not None and row["phase"] not in phases:
            continue
        if types is not None and row["type"] not in types:
            continue
        out.append(StepInfo(row))
    return out
