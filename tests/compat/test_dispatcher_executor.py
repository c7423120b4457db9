"""Dflow's DispatcherExecutor (DPDispatcher settings) maps onto hpcflow's Slurm jobs; what
hpcflow cannot honour is a clear error naming it. Written as Dflow projects write it.
(On the real cluster: the downstream project's tests in tests/slurm/test_slurm_dflow_compat.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpcflow.errors import NotSupported

LOCAL_SLURM = {"batch_type": "Slurm", "context_type": "LocalContext"}


@pytest.fixture
def dispatcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    from hpcflow.compat import alias

    monkeypatch.setenv("PYTHONPATH", "")
    alias.install()
    from dflow.plugins.dispatcher import DispatcherExecutor  # type: ignore[import-not-found]

    yield DispatcherExecutor
    alias.uninstall()


def test_local_slurm_resources_become_step_resources(dispatcher: type, tmp_path) -> None:
    executor = dispatcher(machine_dict=LOCAL_SLURM, resources_dict={
        "queue_name": "gpu", "number_node": 2, "cpu_per_node": 8, "gpu_per_node": 1,
        "group_size": 5, "para_deg": 2, "custom_flags": ["#SBATCH --mem=4G", "#SBATCH --qos=high"],
        "source_list": ["/opt/env with space.sh"], "module_list": ["vasp/6.3"], "module_purge": True,
        "envs": {"OMP_NUM_THREADS": "8"}}, envs={"EXTRA": "1"})
    spec = executor.to_spec()
    assert spec["resources"] == {"partition": "gpu", "cpus": 8, "gpus": 1,
                                 "extra_options": ["--nodes=2", "--mem=4G", "--qos=high"]}
    assert spec["envs"] == {"OMP_NUM_THREADS": "8", "EXTRA": "1"}
    assert spec["setup"] == ["module purge", "module load vasp/6.3", "source '/opt/env with space.sh'"]
    assert (spec["group_size"], spec["pool_size"]) == (5, 2)


def test_executor_group_size_reaches_the_sliced_step(dispatcher: type) -> None:
    from dflow import Step, Workflow  # type: ignore[import-not-found]
    from dflow.python import OP, PythonOPTemplate, Slices  # type: ignore[import-not-found]

    @OP.function
    def double(x: int) -> {"y": int}:
        return {"y": 2 * x}

    wf = Workflow("grouped")
    wf.add(Step("double", PythonOPTemplate(double, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                parameters={"x": [1, 2, 3]},
                executor=dispatcher(machine_dict=LOCAL_SLURM, resources_dict={"group_size": 2})))
    step = wf.to_spec()["templates"][wf.entry.name]["groups"][0][0]
    assert step["slices"]["group_size"] == 2
    assert step["executor"]["resources"] == {}


def test_ssh_context_waits_for_the_ssh_transport(dispatcher: type) -> None:
    with pytest.raises(NotSupported, match="SSH transport is not yet available.*issue 12"):
        dispatcher(host="login.cluster", username="me", queue_name="cpu")  # Dflow's default: SSHContext
    with pytest.raises(NotSupported, match="SSHContext"):
        dispatcher(machine_dict={"batch_type": "Slurm", "context_type": "SSHContext",
                                 "remote_profile": {"hostname": "h"}})


@pytest.mark.parametrize(("machine", "resources", "named"), [
    ({"batch_type": "PBS", "context_type": "LocalContext"}, {}, "batch_type 'PBS'"),
    ({"batch_type": "Slurm", "context_type": "Bohrium"}, {}, "context_type 'Bohrium'"),
    (LOCAL_SLURM | {"clean": True, "foo": 1}, {}, "machine_dict keys: clean, foo"),
    (LOCAL_SLURM, {"wait_time": 3, "cpu_per_node": 1}, "resources_dict keys: wait_time"),
    (LOCAL_SLURM, {"custom_flags": ["#SBATCH --comment=mine"]}, "--comment is set by hpcflow"),
    (LOCAL_SLURM, {"strategy": {"if_cuda_multi_devices": True}}, "strategy"),
])
def test_what_hpcflow_cannot_honour_is_named(dispatcher: type, machine, resources, named) -> None:
    with pytest.raises(NotSupported, match=named):
        dispatcher(machine_dict=machine, resources_dict=resources)


def test_container_arguments_name_the_hpcflow_alternative(dispatcher: type) -> None:
    with pytest.raises(NotSupported, match=r"container arguments.*image=.*docker_executable"):
        dispatcher(machine_dict=LOCAL_SLURM, docker_executable="docker")
