"""Where the engine meets the result cache: before a unit is launched, and after it succeeds.

Before launching a unit whose step or template opted in (``cache=True``, or the site's
``[cache] default = true``), the engine asks :meth:`CacheHook.consult`:

- a cached result whose output files are intact: the unit is Succeeded with those outputs
  (marked ``data["cached"]`` with the source workflow and step), and no job is submitted;
- a cached result whose files are gone or changed: the entry is dropped, the unit runs;
- another live workflow holds the key's lease (it is computing the same result): the unit
  stays Pending and is asked about again next tick;
- otherwise this unit takes the lease and is launched.

After a unit succeeds, :meth:`CacheHook.record` stores its outputs under its key.
A cache problem never fails a unit: at worst the unit runs.
"""

from __future__ import annotations

import logging
from typing import Any

from hpcflow.cache.content import artifact_hashes, cacheable_outputs, image_digest, outputs_intact
from hpcflow.cache.key import cache_key, key_parts
from hpcflow.engine import model as m
from hpcflow.engine.model import Node
from hpcflow.engine.run import WorkflowRun
from hpcflow.store.db import Store

log = logging.getLogger("hpcflow.cache")

#: A lease whose holder never ends (an engine gone for good) lets others compute after this.
LEASE_TTL_S = 24 * 3600.0


def cache_enabled(run: WorkflowRun, node: Node, default: bool) -> bool:
    """The step's ``cache`` if set, else the template's, else the site's default."""
    if node.type != m.POD:
        return False
    step = run.step_spec(node)
    if step is not None and step.cache is not None:
        return step.cache
    chosen = run.op_template(node).extra.get("cache")  # set by the DSL when the template says
    if chosen is not None:
        return bool(chosen)
    return default


def unit_key_parts(run: WorkflowRun, node: Node) -> dict[str, Any] | None:
    """The key parts of a unit from its inputs as they are now (``None``: not cacheable)."""
    tmpl = run.op_template(node)
    inputs = node.inputs or {}
    artifacts = inputs.get("artifacts") or {}
    hashes = artifact_hashes(artifacts, run.hashes.for_inputs(artifacts))
    if hashes is None:
        return None
    return key_parts(tmpl.to_json(), inputs.get("parameters") or {}, hashes, image_digest(tmpl.image))


class CacheHook:
    """The engine's view of the store's result cache."""

    def __init__(self, store: Store, default: bool = False, lease_ttl_s: float = LEASE_TTL_S) -> None:
        self.store = store
        self.default = default
        self.lease_ttl_s = lease_ttl_s

    def consult(self, run: WorkflowRun, node: Node) -> bool:
        """True: launch the unit now. False: it was a hit (now Succeeded) or it waits."""
        if not cache_enabled(run, node, self.default):
            return True
        known = node.data.get("cache")
        if known and node.data.get("cache_wait"):  # still waiting: its inputs did not change
            key, parts = known["key"], known["parts"]
        else:
            try:
                parts = unit_key_parts(run, node)
            except Exception:  # noqa: BLE001 - a cache problem must never stop a unit
                log.exception("cannot compute the cache key of %s/%s; running it", run.id, node.path)
                return True
            if parts is None:
                return True
            key = cache_key(parts)
            node.data["cache"] = {"key": key, "parts": parts}
        entry = self.store.cache_entry(key)
        if entry is not None:
            if outputs_intact(entry["outputs"]):
                self._hit(run, node, key, entry)
                return False
            log.info("cache entry %s: outputs missing or changed, computing again", key[:12])
            self.store.forget_cache(key)
        holder = self.store.take_cache_lease(key, run.id, node.path, self.lease_ttl_s)
        if holder is None:
            node.data.pop("cache_wait", None)
            return True
        if node.data.get("cache_wait") != holder:  # said once, not every tick
            node.data["cache_wait"] = holder
            run.set_phase(node, m.PENDING, f"waiting for workflow {holder['workflow_id']} step "
                                           f"{holder['node_path']}, which computes the same result")
        return False

    def _hit(self, run: WorkflowRun, node: Node, key: str, entry: dict[str, Any]) -> None:
        node.outputs = entry["outputs"]
        node.data.pop("cache_wait", None)
        node.data["cached"] = {"workflow": entry["workflow_id"], "step": entry["node_path"], "key": key}
        run.hashes.add(node)  # consumers check the cached files like any producer's
        run.set_phase(node, m.SUCCEEDED,
                      f"cached: the result of workflow {entry['workflow_id']} step {entry['node_path']}")
        self.store.count_cache_hit(key)

    def record(self, run: WorkflowRun, node: Node) -> None:
        """Store a succeeded unit's outputs under its key (outputs that cannot be verified
        later, e.g. without recorded hashes, are not cached)."""
        cache = node.data.get("cache")
        if not cache or node.phase != m.SUCCEEDED or node.data.get("cached"):
            return
        if not cacheable_outputs(node.outputs or {}):
            return
        try:
            self.store.put_cache_entry(cache["key"], cache["parts"]["op"], cache["parts"],
                                       node.outputs or {}, run.id, node.path)
        except Exception:  # noqa: BLE001 - the unit succeeded; a cache write must not undo it
            log.exception("cannot record %s/%s in the result cache", run.id, node.path)
