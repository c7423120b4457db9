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


SSH_SLURM = {"batch_type": "Slurm", "context_type": "SSHContext", "remote_root": "/scratch/me/work",
             "remote_profile": {"hostname": "login.hpc", "username": "me", "port": 2222,
                                "key_filename": "/home/me/.ssh/id_ed25519", "timeout": 20}}


def test_ssh_context_becomes_the_step_route(dispatcher: type) -> None:
    executor = dispatcher(machine_dict=SSH_SLURM, resources_dict={
        "queue_name": "cpu", "cpu_per_node": 4, "custom_flags": ["#SBATCH --mem=2G"],
        "source_list": ["/opt/env.sh"], "envs": {"A": "1"}})
    spec = executor.to_spec()
    assert spec["remote"] == {"host": "login.hpc", "user": "me", "port": 2222,
                              "identity_file": "/home/me/.ssh/id_ed25519", "connect_timeout_s": 20.0,
                              "remote_root": "/scratch/me/work", "python": "python3", "batch": "slurm"}
    assert spec["resources"] == {"partition": "cpu", "cpus": 4, "extra_options": ["--mem=2G"]}
    assert spec["setup"] == ["source /opt/env.sh"] and spec["envs"] == {"A": "1"}
    assert executor.ignored == []


def test_dflow_host_arguments_fill_the_remote_profile(dispatcher: type) -> None:
    executor = dispatcher(host="login.cluster", username="me", port=2200, queue_name="cpu",
                          private_key_file="/k/id", remote_root="/w", remote_command="/opt/py/bin/python")
    remote = executor.to_spec()["remote"]
    assert (remote["host"], remote["user"], remote["port"], remote["identity_file"]) == \
        ("login.cluster", "me", 2200, "/k/id")
    assert remote["python"] == "/opt/py/bin/python"
    # the engine reads the same table back (hpcflow.engine.routes)
    from hpcflow.engine.routes import step_route

    route = step_route(executor.to_spec())
    assert route is not None and route.remote_root == "/w" and len(route.id) == 10


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"machine_dict": SSH_SLURM | {"symlink": True}}, "unsupported machine_dict keys: symlink"),
    ({"machine_dict": SSH_SLURM | {"remote_profile": {"hostname": "h", "proxy_command": "x"}}},
     "unsupported remote_profile keys: proxy_command"),
    ({"machine_dict": SSH_SLURM, "resources_dict": {"wait_time": 3}}, "resources_dict keys: wait_time"),
    ({"machine_dict": SSH_SLURM | {"batch_type": "PBS"}}, "batch_type 'PBS'"),
    ({"host": "login.cluster", "password": "secret", "remote_root": "/w"}, "password: hpcflow never stores secrets"),
    ({"host": "login.cluster"}, "needs remote_root"),
    ({"machine_dict": SSH_SLURM | {"remote_profile": {"username": "me"}}}, "needs hostname"),
])
def test_ssh_context_keys_hpcflow_cannot_honour_are_named(dispatcher: type, kwargs, named) -> None:
    with pytest.raises(NotSupported, match=named):
        dispatcher(**kwargs)


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
