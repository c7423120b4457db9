"""Run real commands in a real Charliecloud container built by scripts/build-test-image.sh.

The image (Debian 12 minbase + python3) is cached in ``$HPCFLOW_TEST_IMAGE`` (default
/var/tmp/hpcflow-test-image). It is built here only when ``CI=true`` or
``HPCFLOW_BUILD_TEST_IMAGE=1`` (needs root, debootstrap and a Debian mirror, ~40 s);
otherwise a missing image skips. Under ``CI=true`` a missing ch-run fails instead.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hpcflow.containers import Bind, ContainerRun, get_runtime, python_path_binds
from hpcflow.containers.charliecloud import require_targets
from hpcflow.transport import LocalTransport

pytestmark = pytest.mark.containers

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-test-image.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"

HOSTILE_ENV = {
    "SPACES": "a b  c",
    "QUOTES": 'it\'s "quoted"',
    "EDGE_QUOTES": "'x'",
    "SUBST": "$(touch /tmp/pwned) `id` $HOME $$ ${PATH}",
    "UNICODE": "ünïcødé ☃ 日本",
    "NEWLINES": "line1\nline2\n",
    "COMMAS": "a=1,b=2,c",
    "BACKSLASH": "C:\\dir\\n",
    "EMPTY": "",
}


def launcher_env() -> dict[str, str]:
    """The host environment plus $USER, which ch-run refuses to start without."""
    env = dict(os.environ)
    env.setdefault("USER", getpass.getuser())
    env["HPCFLOW_HOST_ONLY"] = "must not leak into the container"
    return env


@pytest.fixture(scope="module")
def ch_run() -> str:
    path = shutil.which("ch-run")
    if path is None:
        message = "ch-run is not installed (apt-get install charliecloud-runtime)"
        if IN_CI:
            pytest.fail(message + " and CI=true requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def image(ch_run: str) -> str:
    directory = os.environ.get("HPCFLOW_TEST_IMAGE", "/var/tmp/hpcflow-test-image")
    if not os.path.exists(os.path.join(directory, ".hpcflow-image-ok")):
        if not (IN_CI or os.environ.get("HPCFLOW_BUILD_TEST_IMAGE") == "1"):
            pytest.skip(
                f"no test image at {directory} and CI is not set; run "
                f"`{BUILD_SCRIPT.relative_to(REPO)} {directory}` (root) or set "
                "HPCFLOW_BUILD_TEST_IMAGE=1"
            )
        subprocess.run(["bash", str(BUILD_SCRIPT), directory], check=True, timeout=1800)
    return directory


def run_in_image(run: ContainerRun) -> subprocess.CompletedProcess[str]:
    runtime = get_runtime("charliecloud")
    assert runtime.image_problem(run.image) is None
    require_targets(run)
    return subprocess.run(
        runtime.command(run),
        env=launcher_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def python_in_image(image: str, code: str, **kwargs: object) -> str:
    run = ContainerRun(image, ["python3", "-c", code], **kwargs)  # type: ignore[arg-type]
    proc = run_in_image(run)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_check_passes_with_real_ch_run(ch_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", launcher_env()["USER"])
    get_runtime("charliecloud").check(LocalTransport())


def test_runs_inside_the_image(image: str) -> None:
    out = python_in_image(
        image,
        "import sys; print(open('/etc/hpcflow-test-image').read().strip()); "
        "print(sys.version_info[:2])",
    )
    marker, version = out.splitlines()
    assert marker.startswith("hpcflow test image: debian bookworm")
    assert version == "(3, 11)"


def test_bound_directory_in_and_out(image: str, tmp_path: Path) -> None:
    host = tmp_path / "work dir 'q' \"dq\" $(x) ünï,comma"
    host.mkdir()
    (host / "input.txt").write_text("payload ☃\n", encoding="utf-8")
    code = (
        "import os; data = open('input.txt', encoding='utf-8').read(); "
        "open('output.txt', 'w', encoding='utf-8').write(data.upper()); print(os.getcwd())"
    )
    out = python_in_image(image, code, binds=[Bind(str(host), "/mnt/0")], workdir="/mnt/0")
    assert out.strip() == "/mnt/0"
    assert (host / "output.txt").read_text(encoding="utf-8") == "PAYLOAD ☃\n"


def test_hostile_env_arrives_unchanged(image: str) -> None:
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    seen = json.loads(python_in_image(image, code, env=HOSTILE_ENV))
    assert {k: seen.get(k) for k in HOSTILE_ENV} == HOSTILE_ENV
    assert "HPCFLOW_HOST_ONLY" not in seen  # the host environment is not inherited
    assert seen["PATH"].startswith("/usr/local/sbin:")


def test_hpcflow_importable_via_python_path_binds(image: str, tmp_path: Path) -> None:
    pkg = tmp_path / "step libs" / "steppkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 'from the host ☃'\n", encoding="utf-8")
    binds, pythonpath = python_path_binds([pkg], REPO)
    code = (
        "import hpcflow.errors, steppkg; "
        "print(hpcflow.errors.__file__); print(steppkg.VALUE); "
        "print(issubclass(hpcflow.errors.ContainerError, hpcflow.errors.HpcflowError))"
    )
    out = python_in_image(image, code, binds=binds, env={"PYTHONPATH": pythonpath})
    errors_file, value, subclass = out.splitlines()
    assert errors_file == "/hpcflow/pkgs/0/hpcflow/errors.py"
    assert value == "from the host ☃"
    assert subclass == "True"


def test_failing_command_reports_exit_code(image: str) -> None:
    proc = run_in_image(ContainerRun(image, ["python3", "-c", "raise SystemExit(7)"]))
    assert proc.returncode == 7
