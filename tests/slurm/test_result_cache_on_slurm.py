"""The result cache on the real Slurm cluster: an unchanged rerun of a 20-slice workflow
submits no sbatch at all; one changed input byte reruns only that slice and its
dependant; two identical workflows started together run each slice once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hpcflow.scheduler.slurm.backend import SlurmScheduler
from hpcflow.store.db import Store
from tests.integration.test_result_cache import N, executions, make_inputs, run, screen, units

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
pytestmark = pytest.mark.slurm



@pytest.fixture
def sbatches(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every job request that reaches the Slurm backend (each one an sbatch)."""
    seen: list[Any] = []
    real = SlurmScheduler.submit

    def counting(self: SlurmScheduler, job: Any) -> Any:
        seen.append(job)
        return real(self, job)

    monkeypatch.setattr(SlurmScheduler, "submit", counting)
    return seen


def shared_dir(tmp_path: Path, name: str) -> Path:
    """Inputs and marker files where the compute node sees them (/tmp: one-node cluster)."""
    path = tmp_path / name
    path.mkdir()
    return path


@pytest.mark.usefixtures("slurm_home")
def test_rerun_on_slurm_submits_nothing_and_a_changed_byte_reruns_its_slice(tmp_path: Path,
                                                                          sbatches: list[Any]):
    files, log = make_inputs(shared_dir(tmp_path, "inputs")), shared_dir(tmp_path, "log")
    first = run(screen("first", files, log))
    assert sbatches and executions(log, "upper") == N and executions(log, "measure") == N
    sbatches.clear()
    second = run(screen("second", files, log))
    assert sbatches == []
    assert all(s.cached and s.cached["workflow"] == first.id
               for s in units(second, "upper") + units(second, "measure"))
    files[7].write_text("value 7 changed")
    third = run(screen("third", files, log))
    assert len(sbatches) == 2  # one job for upper(7), one for measure(7)
    for name in ("upper", "measure"):
        assert [s.slice_index for s in units(third, name) if not s.cached] == [7]
    assert executions(log, "upper") == N + 1 and executions(log, "measure") == N + 1


WF = '''
import json
import sys
from pathlib import Path

from tests.integration.test_result_cache import N, screen, units

files = [Path(sys.argv[1]) / f"in{i}.txt" for i in range(N)]  # made by the test beforehand
wf = screen("together", files, Path(sys.argv[2]))
wf.submit()
status = wf.wait(timeout=600)
cached = sum(1 for s in units(wf, "upper") + units(wf, "measure") if s.cached)
print(json.dumps({"id": wf.id, "status": status, "cached": cached}))
'''


def test_two_concurrent_identical_workflows_on_slurm_run_each_slice_once(tmp_path: Path):
    script = tmp_path / "wf.py"
    script.write_text(textwrap.dedent(WF))
    inputs, log = shared_dir(tmp_path, "inputs"), shared_dir(tmp_path, "log")
    make_inputs(inputs)
    Store(tmp_path / "home" / "hpcflow.db").close()  # an existing store (see test_result_cache_project)
    env = dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"), HPCFLOW_SITE=str(SITE), PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_SUBMIT_ONLY", None)
    procs = [subprocess.Popen([sys.executable, str(script), str(inputs), str(log)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["status"] for r in results] == ["Succeeded", "Succeeded"], results
    assert executions(log, "upper") == N and executions(log, "measure") == N
    assert sum(r["cached"] for r in results) == 2 * N
