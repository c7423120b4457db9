"""Site files for Kubernetes and bursting: what is required, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import ConfigError
from hpcflow.site import load_site, parse_site

S3 = {"kind": "s3", "bucket": "runs", "endpoint_url": "http://127.0.0.1:9"}


def kube(**kw) -> dict:
    data = {"name": "cloud", "scheduler": "kubernetes", "storage": dict(S3),
            "kubernetes": {"namespace": "science", "s3_secret": "hpcflow-s3"}}
    data.update(kw)
    return data


def test_a_kubernetes_site_with_defaults():
    site = parse_site(kube())
    k = site.kubernetes
    assert (k.namespace, k.ttl_s, k.backoff_limit_per_index, k.image_pull_policy) == ("science", 3600, 2, "IfNotPresent")


@pytest.mark.parametrize("data, message", [
    (kube(storage={"kind": "shared"}), 'needs [storage] kind = "s3"'),
    ({"name": "c", "scheduler": "kubernetes", "storage": S3}, "needs a [kubernetes] table"),
    (kube(kubernetes={"namespace": "science"}), "kubernetes.s3_secret: missing required key"),
    (kube(kubernetes={"namespace": "Science_1", "s3_secret": "x"}), "is not a Kubernetes name"),
    (kube(kubernetes={"s3_secret": "x", "namspace": "typo"}), "kubernetes.namspace: unknown key"),
    (kube(kubernetes={"s3_secret": "x", "token": "secret!"}), "kubernetes.token: unknown key"),
    (kube(kubernetes={"s3_secret": "x", "image_pull_policy": "Sometimes"}), "image_pull_policy"),
    ({"name": "s", "scheduler": "slurm", "kubernetes": {"s3_secret": "x"}}, 'only read when scheduler = "kubernetes"'),
    ({"name": "s", "scheduler": "slurm", "burst": {"site": "cloud", "when_pending_over": 1}}, '[burst] needs [storage] kind = "s3"'),
    ({"name": "s", "scheduler": "slurm", "storage": S3, "burst": {"site": "cloud"}}, "set when_pending_over or when_wait_over_s"),
    ({"name": "s", "scheduler": "slurm", "storage": S3, "burst": {"site": "cloud", "when_pending_over": 1, "only_image": True}},
     "burst.only_image: unknown key"),
])
def test_bad_sites_are_refused_with_the_key(data: dict, message: str):
    with pytest.raises(ConfigError) as err:
        parse_site(data, "site.toml")
    assert message in str(err.value) and "site.toml" in str(err.value)


def test_burst_site_resolves_beside_the_home_site_and_must_be_kubernetes(tmp_path: Path):
    from hpcflow.engine.site_adapter import load_engine_site
    from hpcflow.settings import Settings

    home = tmp_path / "home.toml"
    home.write_text('name = "hpc"\nscheduler = "slurm"\n[storage]\nkind = "s3"\nbucket = "runs"\n'
                    '[burst]\nsite = "cloud"\nwhen_pending_over = 10\n')
    (tmp_path / "cloud.toml").write_text('name = "cloud"\nscheduler = "slurm"\n')
    config = Settings(home=tmp_path / "h", site_file=str(home))
    with pytest.raises(ConfigError, match="bursting needs a Kubernetes site"):
        load_engine_site(config)
    (tmp_path / "cloud.toml").write_text('name = "cloud"\nscheduler = "kubernetes"\n[kubernetes]\ns3_secret = "s"\n'
                                         '[storage]\nkind = "s3"\nbucket = "other"\n')
    with pytest.raises(ConfigError, match="same \\[storage\\]"):
        load_engine_site(config)
    (tmp_path / "cloud.toml").write_text('name = "cloud"\nscheduler = "kubernetes"\n[kubernetes]\ns3_secret = "s"\n'
                                         '[storage]\nkind = "s3"\nbucket = "runs"\n')
    _, routing, name, _ = load_engine_site(config)
    scheduler = routing.home  # steps routed over SSH go around it (hpcflow.engine.routing)
    assert name == "hpc" and type(scheduler).__name__ == "BurstScheduler"
    assert scheduler.cloud.settings.site_name == "cloud" and scheduler.policy.when_pending_over == 10


def test_example_site_files_load():
    repo = Path(__file__).resolve().parents[2]
    assert load_site(repo / "site-configs" / "example-kubernetes-site.toml").scheduler == "kubernetes"
    assert load_site(repo / "site-configs" / "example-burst-site.toml").burst is not None
