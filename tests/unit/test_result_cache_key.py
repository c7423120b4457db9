"""The result cache's pure parts: source hashes, key parts and what differs between two
keys; the store's lease rules; the site's ``[cache] default``."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hpcflow.cache.key import cache_key, differing_parts, key_parts
from hpcflow.cache.source import source_hash
from hpcflow.site import load_site
from hpcflow.store.db import Store


def _function(tmp_path: Path, name: str, body: str):  # type: ignore[no-untyped-def]
    """A function defined in a real module file, as users' OPs are (inspect needs a file)."""
    import importlib.util

    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.f


BASE = '''
def f(x):
    """Double x."""
    return 2 * x
'''


def test_comments_and_docstrings_do_not_change_the_source_hash(tmp_path: Path) -> None:
    base = source_hash(_function(tmp_path, "m1", BASE))
    commented = source_hash(_function(tmp_path, "m2", '''
        def f(x):
            """Twice x, documented at length."""
            # a comment
            return 2 * x  # and another
        '''))
    logic = source_hash(_function(tmp_path, "m3", BASE.replace("2 * x", "3 * x")))
    assert base is not None and base == commented
    assert logic != base


TMPL = {"kind": "python", "name": "t", "op": {"module": "ops", "qualname": "f"}, "source_hash": "s1",
        "outputs": {"parameters": {"y": {}}, "artifacts": {}}, "resources": {"cpus": 1}}


def test_the_key_ignores_resources_and_names_and_tells_which_input_differs() -> None:
    parts = key_parts(TMPL, {"x": "1"}, {"data": "h1"})
    other_site = key_parts({**TMPL, "name": "t-2", "resources": {"cpus": 64}}, {"x": "1"}, {"data": "h1"})
    assert cache_key(parts) == cache_key(other_site)
    assert differing_parts(parts, key_parts(TMPL, {"x": "2"}, {"data": "h1"})) == ["parameters.x"]
    assert differing_parts(parts, key_parts(TMPL, {"x": "1"}, {"data": "h2"})) == ["artifacts.data"]
    assert differing_parts(parts, key_parts({**TMPL, "source_hash": "s2"}, {"x": "1"}, {"data": "h1"})) == ["source"]
    assert differing_parts(parts, key_parts({**TMPL, "cache_version": 2}, {"x": "1"}, {"data": "h1"})) == ["cache_version"]
    shell = {"kind": "shell", "name": "s", "script": "echo 1", "outputs": {}}
    assert differing_parts(key_parts(shell, {}, {}), key_parts({**shell, "script": "echo 2"}, {}, {})) == ["source"]


def test_a_lease_is_held_while_its_unit_lives_and_taken_over_after(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    for wf in ("a", "b"):
        store.create_workflow(wf, wf, {}, str(tmp_path))
        store.set_workflow_status(wf, "Running")
    store.save_node("a", {"path": "s(0)", "name": "s(0)", "type": "Pod", "phase": "Running",
                          "attempts": 1, "retries": 0, "system_retries": 0, "created_at": 0.0})
    assert store.take_cache_lease("k", "a", "s(0)", ttl_s=60) is None
    assert store.take_cache_lease("k", "b", "s(0)", ttl_s=60) == {"workflow_id": "a", "node_path": "s(0)"}
    assert store.take_cache_lease("k", "a", "s(0)", ttl_s=60) is None  # its own lease: renewed
    store.save_node("a", {"path": "s(0)", "name": "s(0)", "type": "Pod", "phase": "Failed",
                          "attempts": 1, "retries": 0, "system_retries": 0, "created_at": 0.0})
    assert store.take_cache_lease("k", "b", "s(0)", ttl_s=60) is None  # the holder failed
    assert store.take_cache_lease("k2", "b", "x", ttl_s=-1) is None
    assert store.take_cache_lease("k2", "a", "s(0)", ttl_s=60) is None  # an expired lease
    store.put_cache_entry("k2", "ops:f", {"op": "ops:f"}, {"parameters": {}}, "a", "s(0)")
    assert store.take_cache_lease("k2", "b", "x", ttl_s=60) is None  # a result ends the lease
    assert store.forget_cache("k3") == 0 and store.forget_cache("k2") == 1  # by key prefix


def test_the_site_turns_the_cache_on_for_every_step(tmp_path: Path) -> None:
    from hpcflow.engine.site_adapter import settings_from_site

    path = tmp_path / "site.toml"
    path.write_text('name = "c"\nscheduler = "local"\n\n[cache]\ndefault = true\n')
    assert load_site(path).cache.default is True
    assert settings_from_site(load_site(path), tmp_path).cache_default is True
