"""Site configuration: shipped files validate, errors name the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import ConfigError
from hpcflow.scheduler.base import Resources
from hpcflow.site import SiteConfig, check_site, load_site, resolve_site
from hpcflow.site.check import SiteReport
from hpcflow.transport import CommandResult

SITE_CONFIGS = Path(__file__).parent.parent.parent / "site-configs"


@pytest.mark.parametrize("path", sorted(SITE_CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_site_configs_validate(path: Path) -> None:
    site = load_site(path)
    assert site.name
    if site.scheduler == "slurm":
        assert site.default_partition() in site.partitions


def test_shipped_files_exist() -> None:
    names = {p.name for p in SITE_CONFIGS.glob("*.toml")}
    assert {"local.toml", "slurm-test.toml"} <= names and len(names) >= 4


def test_units_and_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.setenv("PROJ", "p1")
    gpu = load_site(SITE_CONFIGS / "example-gpu-site.toml")
    assert gpu.defaults.memory_mb == 32 * 1024 and gpu.defaults.time_limit_s == 4 * 3600
    assert gpu.partitions["gpu-debug"].max_time_s == 30 * 60
    assert gpu.work_root == "/home/u/hpcflow-work"
    monkeypatch.delenv("USER", raising=False)
    big = load_site(SITE_CONFIGS / "example-large-site.toml")
    assert big.work_root is not None and "$" not in big.work_root
    assert gpu.containers.binds == ["/home/u/datasets:/datasets:ro", "/scratch"]
    assert gpu.storage.credentials_file == "/home/u/.aws/credentials"
    big = load_site(SITE_CONFIGS / "example-large-site.toml")
    assert big.partitions["bigmem"].max_memory_mb == 2 * 1024 * 1024
    assert big.partitions["compute"].max_time_s == 2 * 86400
    assert big.defaults.resources() == Resources(
        cpus=1,
        memory_mb=2048,
        time_limit_s=3600,
        partition="compute",
        account="myproj",
        qos="normal",
        extra_options=("--requeue",),
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'name="x"\n[defaults]\nmemory = "2 gigs"\n',
            "defaults.memory: cannot parse '2 gigs' as a memory size",
        ),
        ('name="x"\n[defaults]\ntime = "1h"\n', "defaults.time: cannot parse '1h' as a time limit"),
        ('name="x"\n[defaults]\nmemroy = "2G"\n', "defaults.memroy: unknown key"),
        ('name="x"\nschedular = "slurm"\n', "schedular: unknown key"),
        ('name="x"\nscheduler = "pbs"\n', "scheduler: Input should be 'local', 'slurm' or 'kubernetes'"),
        ('scheduler = "local"\n', "name: missing required key"),
        (
            'name="x"\n[partitions.a]\nmax_memory = "lots"\n',
            "partitions.a.max_memory: cannot parse",
        ),
        ('name="x"\n[containers]\nruntime = "docker"\n', "containers.runtime: Input should be"),
        ('name="x"\n[containers]\nbinds = ["a:b:rx"]\n', "containers.binds: bind 'a:b:rx'"),
        (
            'name="x"\n[containers]\ngpu = "intel"\n',
            "containers.gpu: Input should be 'nvidia' or 'rocm'",
        ),
        ('name="x"\n[storage]\nkind = "s3"\n', "storage: kind = 's3' needs a bucket"),
        (
            'name="x"\n[storage]\nkind = "s3"\nbucket = "b"\naws_secret_access_key = "k"\n',
            "storage: aws_secret_access_key: credentials never go in a site file",
        ),
        (
            'name="x"\n[defaults]\npartition = "debug q"\n',
            "defaults.partition: 'debug q' contains spaces",
        ),
        (
            'name="x"\n[defaults]\nextra_sbatch = ["reservation=x"]\n',
            "defaults.extra_sbatch: 'reservation=x'",
        ),
        (
            'name="x"\nmax_queued_jobs = 0\n',
            "max_queued_jobs: Input should be greater than or equal to 1",
        ),
        (
            'name="x"\npoll_max_s = 0.5\n',
            "poll_max_s: Input should be greater than or equal to 1",
        ),
        (
            'name="x"\npoll_max_s = "often"\n',
            "poll_max_s: Input should be a valid number",
        ),
        (
            'name="x"\n[defaults]\npartition = "gpu"\n[partitions.cpu]\ndefault = true\n',
            "defaults.partition 'gpu' is not one of [partitions]: cpu",
        ),
        (
            'name="x"\n[partitions.a]\ndefault=true\n[partitions.b]\ndefault=true\n',
            "more than one default",
        ),
        ('name = "x\n', "not valid TOML"),
        (
            'name="x"\nwork_root = "$HPCFLOW_UNSET_VAR/w"\n',
            "work_root: $HPCFLOW_UNSET_VAR is not set",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    text = str(info.value)
    assert text.startswith(f"{path}: "), text
    assert message in text, text


def test_poll_max_reaches_the_engine(tmp_path: Path) -> None:
    from hpcflow.engine.site_adapter import settings_from_site

    assert load_site(write(tmp_path, 'name="x"\n')).poll_max_s == 30.0
    site = load_site(write(tmp_path, 'name="x"\npoll_max_s = 120\n'))
    assert settings_from_site(site, tmp_path).poll_max_s == 120.0


def test_memory_and_time_forms(tmp_path: Path) -> None:
    cases = {
        '"2G"': 2048,
        '"500M"': 500,
        '"1.5G"': 1536,
        "4096": 4096,
        '"1T"': 1024 * 1024,
    }
    for raw, mb in cases.items():
        site = load_site(write(tmp_path, f'name="x"\n[defaults]\nmemory = {raw}\n'))
        assert site.defaults.memory_mb == mb, raw
    times = {
        '"01:30:00"': 5400,
        '"2-00:00:00"': 172800,
        '"1-12"': 129600,
        "90": 5400,
        '"90"': 5400,
        '"10:30"': 630,
        '"1-02:03"': 93780,
    }
    for raw, seconds in times.items():
        site = load_site(write(tmp_path, f'name="x"\n[defaults]\ntime = {raw}\n'))
        assert site.defaults.time_limit_s == seconds, raw


def test_resolve_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HPCFLOW_SITE", raising=False)
    from hpcflow.site import loader

    monkeypatch.setattr(loader, "USER_SITE", Path("~/.config/hpcflow/site.toml"))
    assert resolve_site(None).name == "local"  # built-in default
    user = tmp_path / ".config" / "hpcflow" / "site.toml"
    user.parent.mkdir(parents=True)
    user.write_text('name = "mine"\n', encoding="utf-8")
    assert resolve_site(None).name == "mine"
    monkeypatch.setenv("HPCFLOW_SITE", str(SITE_CONFIGS / "slurm-test.toml"))
    assert resolve_site(None).name == "slurm-test"
    assert resolve_site(str(SITE_CONFIGS / "local.toml")).name == "local"
    with pytest.raises(ConfigError, match="no such site configuration file"):
        resolve_site(str(tmp_path / "missing.toml"))


class ScriptedTransport:
    """Answers argv prefixes with recorded outputs; a real Transport implementation, no Slurm."""

    def __init__(self, answers: dict[str, CommandResult]) -> None:
        self.answers = answers

    def run(self, argv, *, input=None, timeout=60.0, env=None, cwd=None) -> CommandResult:  # noqa: A002
        key = " ".join(argv[:2])
        for prefix, result in self.answers.items():
            if key.startswith(prefix):
                return CommandResult(tuple(argv), result.returncode, result.stdout, result.stderr)
        return CommandResult(tuple(argv), 127, "", f"{argv[0]}: not scripted")


FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def _ok(name: str) -> CommandResult:
    return CommandResult((), 0, (FIXTURES / name).read_text(encoding="utf-8"), "")


def test_check_site_with_recorded_answers(tmp_path: Path) -> None:
    site = SiteConfig.model_validate(
        {
            "name": "t",
            "scheduler": "slurm",
            "work_root": str(tmp_path),
            "partitions": {"debug": {}, "gpu": {}},
        }
    )
    transport = ScriptedTransport(
        {
            "scontrol ping": _ok("scontrol-ping.txt"),
            "sinfo": _ok("sinfo-partitions.txt"),
            "scontrol show": _ok("scontrol-show-config.txt"),
            "sacct": CommandResult(
                (), 1, "", (FIXTURES / "sacct-accounting-disabled.stderr").read_text()
            ),
        }
    )
    report = check_site(site, transport)
    assert isinstance(report, SiteReport)
    assert report.max_array_size == 100001 and report.accounting is False
    assert report.partitions == ["debug"]
    text = report.render()
    assert "[FAIL] configured partitions" in text and "missing: gpu" in text
    assert "accounting" in text and not report.ok


def test_check_site_controller_down(tmp_path: Path) -> None:
    site = SiteConfig.model_validate(
        {"name": "t", "scheduler": "slurm", "work_root": str(tmp_path)}
    )
    down = CommandResult((), 1, (FIXTURES / "scontrol-ping-down.txt").read_text(), "")
    report = check_site(site, ScriptedTransport({"scontrol ping": down}))
    assert not report.ok and "DOWN" in report.render()


def test_local_site_check(tmp_path: Path) -> None:
    site = SiteConfig(name="l", work_root=str(tmp_path / "new"))
    report = check_site(site, ScriptedTransport({}))
    assert report.ok, report.render()
