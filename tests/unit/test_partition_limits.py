"""Partition limits of a site file are enforced at submit: a step asking for more than its
partition allows is a SpecError naming the step, the resource, the request and the limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpcflow import Step, Steps, Workflow
from hpcflow.engine.limits import check_partition_limits
from hpcflow.engine.site_adapter import settings_from_site
from hpcflow.errors import SpecError
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.site import load_site
from tests.integration import wf_ops as ops

SITE = """
name = "limited"
scheduler = "local"
work_root = "{work}"

[defaults]
time = "00:10:00"
cpus = 1
partition = "short"

[partitions.short]
max_time = "01:00:00"
max_cpus = 4
max_memory = "8G"
gpus = 0

[partitions.gpu]
max_time = "2-00:00:00"
gpus = 2
"""


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(work=tmp_path / "work"))
    return path


class OnPartition:
    """An executor that sends its steps elsewhere (what an Executor's to_spec returns)."""

    def __init__(self, **resources: Any) -> None:
        self.resources = resources

    def to_spec(self) -> dict[str, Any]:
        return {"resources": self.resources}


def check(site_file: Path, step: Step, home: Path) -> None:
    wf = Workflow("limits")
    wf.add(step)
    check_partition_limits(wf.to_spec(), settings_from_site(load_site(site_file), home))


@pytest.mark.parametrize(
    ("template", "step_options", "message"),
    [
        (dict(resources={"time": "02:00:00"}), {},
         "asks for time 02:00:00, but partition 'short' allows at most 01:00:00 (max_time)"),
        (dict(timeout=1500, slices=Slices(input_parameter=["a"], output_parameter=["c"], group_size=3)), {},
         "asks for time 01:16:00 (its timeout of 1500 s per unit plus 60 s), but partition 'short' "
         "allows at most 01:00:00 (max_time)"),
        (dict(requests={"cpu": "8"}), {}, "asks for cpus 8, but partition 'short' allows at most 4 (max_cpus)"),
        (dict(limits={"memory": "16Gi"}), {},
         "asks for memory 16384M, but partition 'short' allows at most 8192M (max_memory)"),
        (dict(resources={"gpus": 1}), {}, "asks for gpus 1, but partition 'short' allows at most 0 (gpus)"),
        ({}, dict(executor=OnPartition(partition="gpu", gpus=4)),
         "asks for gpus 4, but partition 'gpu' allows at most 2 (gpus)"),
        (dict(resources={"partition": "bigmem"}), {},
         "partition 'bigmem' is not one of the site's partitions (gpu, short)"),
    ],
)
def test_requests_above_a_limit_are_spec_errors(site_file: Path, tmp_path: Path, template: dict,
                                                step_options: dict, message: str) -> None:
    params = {"a": [1, 2, 3]} if "slices" in template else {"a": 1}
    step = Step("relax", PythonOPTemplate(ops.add, **template), parameters=params, **step_options)
    with pytest.raises(SpecError) as info:
        check(site_file, step, tmp_path)
    assert str(info.value) == f"workflow limits: step relax (in limits-steps): {message}"


@pytest.mark.parametrize(
    ("template", "step_options"),
    [
        (dict(resources={"time": "01:00:00", "cpus": 4, "memory": "8G"}), {}),  # at the limits
        (dict(timeout=1200, slices=Slices(input_parameter=["a"], output_parameter=["c"], group_size=3,
                                          pool_size=3)), {}),  # 3 slices at once: one timeout
        ({}, dict(executor=OnPartition(partition="gpu", gpus=2, time="1-12:00:00"))),
    ],
)
def test_requests_within_the_limits_pass(site_file: Path, tmp_path: Path, template: dict,
                                         step_options: dict) -> None:
    params = {"a": [1, 2, 3]} if "slices" in template else {"a": 1}
    check(site_file, Step("ok", PythonOPTemplate(ops.add, **template), parameters=params, **step_options),
          tmp_path)


def test_a_nested_step_is_named_with_its_template(site_file: Path, tmp_path: Path) -> None:
    inner = Steps("inner")
    inner.add(Step("deep", PythonOPTemplate(ops.add, resources={"cpus": 5}), parameters={"a": 1}))
    with pytest.raises(SpecError, match=r"step deep \(in inner\): asks for cpus 5, .* at most 4"):
        check(site_file, Step("outer", inner), tmp_path)


def test_submit_refuses_before_anything_is_stored(site_file: Path, hpcflow_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPCFLOW_SITE", str(site_file))
    wf = Workflow("too-long")
    wf.add(Step("sim", PythonOPTemplate(ops.add, resources={"time": "1-00:00:00"}), parameters={"a": 1}))
    with pytest.raises(SpecError, match="step sim .*asks for time 1-00:00:00, but partition 'short'"):
        wf.submit()
    assert wf.id is None
    assert wf._client.store.list_workflows() == []
    assert not (site_file.parent / "work").exists() or not any((site_file.parent / "work").iterdir())


def test_a_site_without_partitions_checks_nothing(tmp_path: Path) -> None:
    site = tmp_path / "plain.toml"
    site.write_text('name = "plain"\nscheduler = "local"\n')
    check(site, Step("any", PythonOPTemplate(ops.add, resources={"cpus": 512, "time": "30-00:00:00"}),
                     parameters={"a": 1}), tmp_path)
