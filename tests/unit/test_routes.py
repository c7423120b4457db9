"""Per-step routes as data: ids, tags, task ids and the route record (no SSH needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hpcflow.engine.routes import Route, split_task_id, step_route, tag_route_id, task_id
from hpcflow.errors import ConfigError


def test_routed_job_ids_resolve_in_a_new_engine_from_the_route_record(tmp_path: Path) -> None:
    """A route recorded by one engine is found by another from its task ids alone."""
    from hpcflow.engine.routing import RouteTable

    route = Route(host="login.hpc", remote_root="/scratch/w", user="me", port=2222,
                  identity_file="/k/id")
    RouteTable(tmp_path, tmp_path / "work").for_route(route)
    record = json.loads((tmp_path / "routes" / f"{route.id}.json").read_text())
    assert record == route.to_table() and "password" not in record
    again = RouteTable(tmp_path, tmp_path / "work").known(route.id)
    assert again is not None and again.route == route and again.area.remote_root == "/scratch/w"
    assert split_task_id(task_id(route.id, "123_4")) == (route.id, "123_4")
    assert split_task_id("123_4") == (None, "123_4") and split_task_id("k8s:cloud/x") == (None, "k8s:cloud/x")
    assert tag_route_id(f"hpcflow-wf-abc.ssh-{route.id}") == route.id and tag_route_id("hpcflow-wf-abc") is None
    assert os.stat(tmp_path / "routes").st_mode & 0o077 == 0


def test_a_route_is_its_table_and_unknown_keys_are_errors() -> None:
    table = {"host": "h", "remote_root": "/w", "user": "me", "port": 22}
    route = step_route({"resources": {}, "remote": table})
    assert route is not None and route.to_table() == table | {"python": "python3", "batch": "slurm"}
    assert route.id == Route.from_table(dict(reversed(list(table.items())))).id  # order-free
    assert route.id != Route.from_table(table | {"remote_root": "/other"}).id
    assert step_route({"resources": {}}) is None and step_route(None) is None
    with pytest.raises(ConfigError, match="unsupported keys: password"):
        Route.from_table(table | {"password": "x"})
    with pytest.raises(ConfigError, match="batch 'pbs'"):
        Route.from_table(table | {"batch": "pbs"})


def test_the_routing_scheduler_passes_home_jobs_through_and_knows_no_unrecorded_route(tmp_path: Path) -> None:
    from hpcflow.engine.routing import RouteTable, RoutingScheduler
    from hpcflow.scheduler.base import JobState
    from hpcflow.scheduler.local import LocalScheduler

    home = LocalScheduler(1, registry=tmp_path / "local-jobs", use_zygote=False)
    routing = RoutingScheduler(home, RouteTable(tmp_path, tmp_path / "work"))
    assert routing.name == "local" and routing.warm_up == home.warm_up  # the home's extras
    never = "hpcflow-wf-0123456789.ssh-0123456789"
    assert routing.adopt([never]) == {}  # no route record: nothing was ever submitted there
    lost = routing.poll([task_id("0123456789", "42")])
    assert lost[task_id("0123456789", "42")].state == JobState.UNKNOWN
    assert not (tmp_path / "routes").exists()


def test_hpcflow_show_names_the_route_a_unit_ran_on() -> None:
    from hpcflow.engine.burst import where_ran

    assert where_ran(task_id("0123456789", "77"), "workstation") == "ssh-0123456789"
    assert where_ran("77", "workstation") == "workstation"
