"""Steps in a container image on the real Slurm cluster, with Charliecloud's ch-run.

The image is the Debian 12 test image of scripts/build-test-image.sh (python3, ASE and a
marker file /etc/hpcflow-test-image); hpcflow itself is not installed in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpcflow import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    ShellOPTemplate,
    Step,
    Workflow,
)
from hpcflow.python import PythonOPTemplate
from tests.conftest import in_ci
from tests.integration.wf_ops import read_text
from tests.slurm.container_ops import inside

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [str(REPO / "tests")]  # makes tests.slurm.container_ops importable in the image
IMAGE = os.environ.get("HPCFLOW_TEST_IMAGE", "/var/tmp/hpcflow-test-image")
pytestmark = [pytest.mark.slurm, pytest.mark.containers]


@pytest.fixture(scope="module", autouse=True)
def need_image() -> None:
    problem = None
    if shutil.which("ch-run") is None:
        problem = "ch-run is not installed (apt-get install charliecloud-runtime)"
    elif not Path(IMAGE, ".hpcflow-image-ok").exists():
        problem = f"no test image at {IMAGE} (scripts/build-test-image.sh {IMAGE})"
    if problem:
        if in_ci():
            pytest.fail(f"CI=true but {problem}", pytrace=False)
        pytest.skip(problem)


def site_file(tmp_path: Path, runtime: str = "charliecloud", executable: str | None = None) -> Path:
    text = (REPO / "site-configs" / "slurm-test.toml").read_text()
    text = text.replace('[containers]\nruntime = "none"', f'[containers]\nruntime = "{runtime}"' +
                        (f'\nexecutable = "{executable}"' if executable else ""))
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


@pytest.fixture
def cc_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from hpcflow.client import reset_clients

    site = site_file(tmp_path)
    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(site))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    yield site
    reset_clients()


def test_python_op_runs_inside_the_image_and_artifacts_cross(cc_site: Path, tmp_path: Path):
    from hpcflow import upload_artifact

    src = tmp_path / "in.txt"
    src.write_text("abc")
    wf = Workflow("cc-python")
    step = Step("inside", PythonOPTemplate(inside, image=IMAGE, python_packages=PACKAGES), parameters={"n": 2},
                artifacts={"f": upload_artifact(src)})
    after = Step("after", PythonOPTemplate(read_text), artifacts={"f": step.outputs.artifacts["out"]})
    wf.add(step)
    wf.add(after)
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded", [(s.name, s.message) for s in wf.query_step()]
    out = {k: v.value for k, v in wf.query_step(name="inside")[0].outputs.parameters.items()}
    assert out["marker"].startswith("hpcflow test image")
    assert out["text"] == "abc"
    assert out["python"] == "/usr/bin/python3"  # the image's interpreter, not the host's
    # the output written inside the image is read back on the host by the next step
    assert wf.query_step(name="after")[0].outputs.parameters["text"].value == "ABCABC"


def test_shell_op_runs_inside_the_image(cc_site: Path):
    tmpl = ShellOPTemplate(
        name="cat-marker", image=IMAGE,
        script="cat /etc/hpcflow-test-image > /tmp/out/marker.txt\n"
               "echo '{{inputs.parameters.word}}' > /tmp/out/word.txt\n"
               "cat /tmp/in/data.txt >> /tmp/out/word.txt\n",
        inputs=Inputs(parameters={"word": InputParameter()}, artifacts={"data": InputArtifact(path="/tmp/in/data.txt")}),
        outputs=Outputs(parameters={"marker": OutputParameter(value_from_path="/tmp/out/marker.txt")},
                        artifacts={"word": OutputArtifact(path="/tmp/out/word.txt")}),
    )
    from hpcflow import upload_artifact

    data = Path(os.environ["HPCFLOW_HOME"]).parent / "data.txt"
    data.write_text("from the host\n")
    wf = Workflow("cc-shell")
    wf.add(Step("sh", tmpl, parameters={"word": "hello"}, artifacts={"data": upload_artifact(data)}))
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded", [(s.name, s.message) for s in wf.query_step()]
    step = wf.query_step(name="sh")[0]
    assert step.outputs.parameters["marker"].value.startswith("hpcflow test image")
    assert Path(step.outputs.artifacts["word"].value).read_text() == "hello\nfrom the host\n"


def test_eos_example_with_its_compute_step_in_the_image(cc_site: Path, tmp_path: Path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "eos.py"), "--points", "6", "--image", IMAGE],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bulk modulus" in proc.stdout
    wf_id = proc.stdout.split()[1]
    from hpcflow.store import Store

    store = Store(Path(os.environ["HPCFLOW_HOME"]) / "hpcflow.db")
    energy = [a for a in store.attempts(wf_id) if a["node_path"].startswith("energy(")]
    assert len(energy) == 6
    # the energy array's one argv file (every task runs it with its index appended)
    energy_job = Path(store.get_workflow(wf_id)["work_dir"]) / "jobs" / energy[0]["tag"]
    tasks = list(energy_job.glob("*.argv"))
    assert tasks and tasks[0].read_text().split("\0")[0].endswith("ch-run")


def test_missing_image_is_reported_on_the_step(cc_site: Path):
    from hpcflow import upload_artifact

    wf = Workflow("cc-noimage")
    wf.add(Step("x", PythonOPTemplate(inside, image="/nonexistent/image", python_packages=PACKAGES), parameters={"n": 1},
                artifacts={"f": upload_artifact(__file__)}))
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    message = wf.query_step(name="x")[0].message
    assert "/nonexistent/image" in message and "charliecloud" in message


def test_missing_runtime_is_reported_with_the_failing_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow import upload_artifact
    from hpcflow.client import reset_clients

    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(site_file(tmp_path, executable="/opt/none/ch-run")))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    wf = Workflow("cc-noruntime")
    wf.add(Step("x", PythonOPTemplate(inside, image=IMAGE, python_packages=PACKAGES), parameters={"n": 1},
                artifacts={"f": upload_artifact(__file__)}))
    wf.submit()
    assert wf.wait(timeout=300) == "Failed"
    message = wf.query_step(name="x")[0].message
    assert "/opt/none/ch-run" in message
    reset_clients()


def test_image_without_python3_is_reported_before_submission(cc_site: Path, tmp_path: Path):
    from hpcflow import upload_artifact

    bare = tmp_path / "bare-image"
    (bare / "etc").mkdir(parents=True)
    wf = Workflow("cc-nopython")
    wf.add(Step("x", PythonOPTemplate(inside, image=str(bare), python_packages=PACKAGES), parameters={"n": 1},
                artifacts={"f": upload_artifact(__file__)}))
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    message = wf.query_step(name="x")[0].message
    assert str(bare) in message and "python3" in message
    assert wf._client.store.attempts(wf.id)[0]["job_id"] is None  # never reached Slurm
