"""Golden command lines for every container runtime, with hostile paths and env values."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from hpcflow.containers import (
    ApptainerRuntime,
    Bind,
    CharliecloudRuntime,
    ContainerRun,
    ContainerRuntime,
    NoRuntime,
    get_runtime,
    python_path_binds,
)
from hpcflow.containers.charliecloud import DEFAULT_PATH, missing_targets, require_targets
from hpcflow.errors import ContainerError
from hpcflow.transport import LocalTransport

HOSTILE_DIR = '/data/my dir/it\'s "q" $(rm -rf ~) `x` ünï ☃'
HOSTILE_ENV = {
    "SPACES": "a b  c",
    "QUOTES": "it's \"quoted\" 'x'",
    "SUBST": "$(touch /tmp/pwned) `id` $HOME $$",
    "UNICODE": "ünïcødé ☃",
    "NEWLINES": "line1\nline2\n",
    "COMMAS": "a=1,b=2,c",
    "EMPTY": "",
}
ARGV = ["python3", "-c", "print('hi $(x)')", "arg with space"]


def hostile_run(**overrides: object) -> ContainerRun:
    fields: dict[str, object] = {
        "image": "/images/my image.sif",
        "argv": ARGV,
        "binds": [
            Bind(HOSTILE_DIR, "/mnt/in put"),
            Bind("/scratch/out", read_only=True),
        ],
        "env": HOSTILE_ENV,
        "workdir": "/mnt/in put",
        "gpu": None,
    }
    fields.update(overrides)
    return ContainerRun(**fields)  # type: ignore[arg-type]


def test_apptainer_golden() -> None:
    argv = ApptainerRuntime().command(hostile_run(gpu="nvidia"))
    assert argv == [
        "/usr/bin/env",
        "APPTAINERENV_SPACES=a b  c",
        "APPTAINERENV_QUOTES=it's \"quoted\" 'x'",
        "APPTAINERENV_SUBST=$(touch /tmp/pwned) `id` $HOME $$",
        "APPTAINERENV_UNICODE=ünïcødé ☃",
        "APPTAINERENV_NEWLINES=line1\nline2\n",
        "APPTAINERENV_COMMAS=a=1,b=2,c",
        "APPTAINERENV_EMPTY=",
        "apptainer",
        "exec",
        "--cleanenv",
        "--no-eval",
        "--nv",
        "--bind",
        f"{HOSTILE_DIR}:/mnt/in put",
        "--bind",
        "/scratch/out:/scratch/out:ro",
        "--pwd",
        "/mnt/in put",
        "/images/my image.sif",
        *ARGV,
    ]


def test_singularity_golden_with_site_options() -> None:
    runtime = get_runtime("singularity", "/opt/sing/bin/singularity", ["--silent-x", "-B=/y"])
    run = ContainerRun(
        "docker://python:3.11-slim",
        ["true"],
        env={"A": "1,2"},
        gpu="rocm",
    )
    assert runtime.command(run) == [
        "/usr/bin/env",
        "SINGULARITYENV_A=1,2",
        "/opt/sing/bin/singularity",
        "exec",
        "--silent-x",
        "-B=/y",
        "--cleanenv",
        "--no-eval",
        "--rocm",
        "docker://python:3.11-slim",
        "true",
    ]


def test_apptainer_without_env_has_no_env_launcher() -> None:
    run = ContainerRun("/img", ["true"])
    assert ApptainerRuntime().command(run) == [
        "apptainer",
        "exec",
        "--cleanenv",
        "--no-eval",
        "/img",
        "true",
    ]


def test_charliecloud_golden() -> None:
    argv = CharliecloudRuntime(options=["-v"]).command(hostile_run(image="/images/deb ian"))
    assert argv == [
        "ch-run",
        "-v",
        "--env-no-expand",
        "--unset-env=*",
        f"--set-env=PATH='{DEFAULT_PATH}'",
        "--set-env=SPACES='a b  c'",
        "--set-env=QUOTES='it's \"quoted\" 'x''",
        "--set-env=SUBST='$(touch /tmp/pwned) `id` $HOME $$'",
        "--set-env=UNICODE='ünïcødé ☃'",
        "--set-env=NEWLINES='line1\nline2\n'",
        "--set-env=COMMAS='a=1,b=2,c'",
        "--set-env=EMPTY=''",
        "-b",
        f"{HOSTILE_DIR}:/mnt/in put",
        "-b",
        "/scratch/out:/scratch/out",
        "--cd=/mnt/in put",
        "/images/deb ian",
        "--",
        *ARGV,
    ]


def test_charliecloud_user_path_replaces_default() -> None:
    run = ContainerRun("/img", ["true"], env={"PATH": "/opt/bin:/usr/bin"})
    assert CharliecloudRuntime().command(run) == [
        "ch-run",
        "--env-no-expand",
        "--unset-env=*",
        "--set-env=PATH='/opt/bin:/usr/bin'",
        "/img",
        "--",
        "true",
    ]


def test_none_returns_argv_unchanged() -> None:
    run = ContainerRun("", ARGV, binds=[Bind("/data")], env=HOSTILE_ENV, gpu="nvidia")
    assert NoRuntime().command(run) == ARGV


def test_none_rejects_moving_bind() -> None:
    with pytest.raises(ContainerError, match="/data"):
        NoRuntime().command(ContainerRun("", ["true"], binds=[Bind("/data", "/mnt/0")]))


@pytest.mark.parametrize("name", ["apptainer", "singularity"])
@pytest.mark.parametrize(
    "bind, bad",
    [
        (Bind("/data/a:b"), "/data/a:b"),
        (Bind("/data/a,b"), "/data/a,b"),
        (Bind("/data/ok", "/mnt/x:y"), "/mnt/x:y"),
        (Bind("/data/ok", "/mnt/x,y"), "/mnt/x,y"),
    ],
)
def test_apptainer_rejects_colon_and_comma(name: str, bind: Bind, bad: str) -> None:
    with pytest.raises(ContainerError) as info:
        get_runtime(name).command(ContainerRun("/img", ["true"], binds=[bind]))
    assert repr(bad) in str(info.value)


def test_charliecloud_rejects_colon_but_accepts_comma() -> None:
    runtime = get_runtime("charliecloud")
    with pytest.raises(ContainerError, match=r"'/data/a:b'"):
        runtime.command(ContainerRun("/img", ["true"], binds=[Bind("/data/a:b", "/mnt/0")]))
    argv = runtime.command(ContainerRun("/img", ["true"], binds=[Bind("/data/a,b", "/mnt/0")]))
    assert "/data/a,b:/mnt/0" in argv


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"argv": []}, "non-empty argv"),
        ({"env": {"BAD-NAME": "x"}}, "'BAD-NAME'"),
        ({"env": {"1X": "x"}}, "'1X'"),
        ({"env": {"X": "a\0b"}}, "NUL"),
        ({"workdir": "rel/dir"}, "'rel/dir'"),
        ({"gpu": "intel"}, "'intel'"),
    ],
)
def test_run_validation(kwargs: dict[str, object], needle: str) -> None:
    fields: dict[str, object] = {"image": "/img", "argv": ["true"], **kwargs}
    with pytest.raises(ContainerError, match=needle):
        ContainerRun(**fields)  # type: ignore[arg-type]


def test_bind_requires_absolute_paths() -> None:
    with pytest.raises(ContainerError, match="'data'"):
        Bind("data")
    with pytest.raises(ContainerError, match="'mnt'"):
        Bind("/data", "mnt")


def test_run_is_frozen_and_copies_inputs() -> None:
    env = {"A": "1"}
    argv = ["true"]
    run = ContainerRun("/img", argv, env=env)
    env["A"] = "2"
    argv.append("x")
    assert run.env == {"A": "1"} and run.argv == ("true",)
    with pytest.raises(TypeError):
        run.env["B"] = "x"  # type: ignore[index]


def test_apptainer_executable_with_equals_is_rejected_when_env_used() -> None:
    runtime = ApptainerRuntime("apptainer", "/opt/a=b/apptainer")
    with pytest.raises(ContainerError, match="a=b"):
        runtime.command(ContainerRun("/img", ["true"], env={"X": "1"}))


def test_get_runtime_unknown_and_none_options() -> None:
    with pytest.raises(ContainerError, match="'docker'"):
        get_runtime("docker")
    with pytest.raises(ContainerError):
        get_runtime("none", options=["-x"])
    for name in ("apptainer", "singularity", "charliecloud", "none"):
        runtime = get_runtime(name)
        assert isinstance(runtime, ContainerRuntime)
        assert runtime.name == name


# ----- python_path_binds --------------------------------------------------------------


def test_python_path_binds(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    libs = tmp_path / "my libs"
    (libs / "pkg_a").mkdir(parents=True)
    (libs / "mod_b.py").write_text("")
    other = tmp_path / "other"
    (other / "pkg_c").mkdir(parents=True)
    binds, pythonpath = python_path_binds(
        [libs / "pkg_a", libs / "mod_b.py", other / "pkg_c", repo / "hpcflow"], repo / "hpcflow"
    )
    assert binds == [
        Bind(str(repo), "/hpcflow/pkgs/0", read_only=True),
        Bind(str(libs), "/hpcflow/pkgs/1", read_only=True),
        Bind(str(other), "/hpcflow/pkgs/2", read_only=True),
    ]
    assert pythonpath == "/hpcflow/pkgs/0:/hpcflow/pkgs/1:/hpcflow/pkgs/2"


def test_python_path_binds_errors(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(ContainerError, match="nope"):
        python_path_binds([tmp_path / "nope"], repo)
    with pytest.raises(ContainerError, match=str(tmp_path)):
        python_path_binds([], tmp_path)


# ----- image_problem ------------------------------------------------------------------


def fake_image(root: Path, with_python: bool = True) -> Path:
    (root / "usr" / "bin").mkdir(parents=True)
    if with_python:
        (root / "usr" / "bin" / "python3").symlink_to("/usr/bin/python3.11")  # absolute
    return root


@pytest.mark.parametrize("name", ["apptainer", "singularity", "charliecloud"])
def test_image_problem_directories(name: str, tmp_path: Path) -> None:
    runtime = get_runtime(name)
    assert runtime.image_problem(str(fake_image(tmp_path / "good"))) is None
    problem = runtime.image_problem(str(fake_image(tmp_path / "bad", with_python=False)))
    assert problem is not None and "python3" in problem and str(tmp_path / "bad") in problem
    missing = str(tmp_path / "gone")
    assert missing in (runtime.image_problem(missing) or "")
    assert "not absolute" in (runtime.image_problem("./rel") or "")


def test_image_problem_files(tmp_path: Path) -> None:
    sif = tmp_path / "x.sif"
    assert "SIF file" in (get_runtime("apptainer").image_problem(str(sif)) or "")
    sif.write_bytes(b"SIF")
    assert get_runtime("apptainer").image_problem(str(sif)) is None
    assert get_runtime("apptainer").image_problem("docker://alpine") is None
    sqfs = tmp_path / "x.sqfs"
    assert "SquashFS" in (get_runtime("charliecloud").image_problem(str(sqfs)) or "")
    sqfs.write_bytes(b"hsqs")
    assert get_runtime("charliecloud").image_problem(str(sqfs)) is None
    assert get_runtime("charliecloud").image_problem("example.com:5050/foo") is None
    assert get_runtime("none").image_problem("/does/not/matter") is None


def test_charliecloud_missing_targets(tmp_path: Path) -> None:
    image = fake_image(tmp_path / "img")
    (image / "mnt" / "0").mkdir(parents=True)
    run = ContainerRun(str(image), ["true"], binds=[Bind("/a", "/mnt/0"), Bind("/b", "/mnt/9")])
    assert missing_targets(run) == ["/mnt/9"]
    with pytest.raises(ContainerError, match="/mnt/9"):
        require_targets(run)


# ----- check() against real executables ------------------------------------------------


def fake_binary(directory: Path, name: str, output: str, rc: int = 0) -> str:
    path = directory / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\nexit {rc}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_check_missing_binary(tmp_path: Path) -> None:
    for name in ("apptainer", "singularity", "charliecloud"):
        missing = str(tmp_path / "no-such-binary")
        with pytest.raises(ContainerError, match="no-such-binary"):
            get_runtime(name, missing).check(LocalTransport())
    get_runtime("none").check(LocalTransport())


@pytest.mark.parametrize(
    "name, output, ok",
    [
        ("apptainer", "apptainer version 1.3.4-1.el9", True),
        ("apptainer", "apptainer version 1.0.3", False),
        ("singularity", "singularity-ce version 3.11.4-jammy", True),
        ("singularity", "singularity-ce version 3.9.9", False),
        ("singularity", "singularity version 3.8.7-1.el7", False),
        ("singularity", "apptainer version 1.2.5", True),
    ],
)
def test_check_versions(tmp_path: Path, name: str, output: str, ok: bool) -> None:
    runtime = get_runtime(name, fake_binary(tmp_path, name, output))
    if ok:
        runtime.check(LocalTransport())
    else:
        with pytest.raises(ContainerError, match="too old"):
            runtime.check(LocalTransport())


@pytest.mark.parametrize(
    "output, rc, needle",
    [
        ("Usage: ch-run [OPTION...] -b, --bind --cd --set-env --unset-env", 0, "--env-no-expand"),
        ("ch-run[1]: error: $USER not set (ch-run.c:122)", 1, "USER"),
        ("segfault", 139, "exited 139"),
    ],
)
def test_check_charliecloud_problems(tmp_path: Path, output: str, rc: int, needle: str) -> None:
    runtime = get_runtime("charliecloud", fake_binary(tmp_path, "ch-run", output, rc))
    with pytest.raises(ContainerError, match=re.escape(needle)):
        runtime.check(LocalTransport())


def test_check_not_executable(tmp_path: Path) -> None:
    path = tmp_path / "apptainer"
    path.write_text("")
    with pytest.raises(ContainerError, match="apptainer"):
        get_runtime("apptainer", str(path)).check(LocalTransport())


@pytest.mark.skipif(shutil.which("ch-run") is None, reason="ch-run is not installed")
def test_check_real_ch_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", os.environ.get("USER") or "root")
    get_runtime("charliecloud").check(LocalTransport())
