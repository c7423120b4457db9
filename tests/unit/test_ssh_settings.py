"""The [ssh] site table, remote command quoting and the SSHContext mapping (pure data)."""

from __future__ import annotations

import subprocess

import pytest

from hpcflow.errors import ConfigError
from hpcflow.site import parse_site
from hpcflow.site.ssh_context import ssh_context_settings
from hpcflow.transport.shellquote import classify_failure, remote_command


def _site(**ssh: object) -> dict:
    return {"name": "c", "scheduler": "slurm", "work_root": "/scratch/u", "ssh": {"host": "login", **ssh}}


def test_ssh_table_defaults_and_unknown_keys():
    site = parse_site(_site(user="me"))
    assert site.ssh is not None and site.ssh.destination() == "me@login"
    assert (site.ssh.client, site.ssh.engine, site.ssh.max_channels) == ("openssh", "remote", 4)
    assert site.ssh.new_connection_interval_s == 10
    with pytest.raises(ConfigError, match="ssh.hostname: unknown key"):
        parse_site(_site(hostname="x"))


@pytest.mark.parametrize("secret", ["password", "passphrase", "otp", "private_key", "token"])
def test_secrets_are_refused_in_the_ssh_table(secret: str):
    with pytest.raises(ConfigError, match=f"{secret}: secrets never go in a site file"):
        parse_site(_site(**{secret: "hunter2"}))


def test_local_engine_needs_slurm_and_a_work_root():
    with pytest.raises(ConfigError, match="needs work_root"):
        parse_site({"name": "c", "scheduler": "slurm", "ssh": {"host": "h", "engine": "local"}})
    with pytest.raises(ConfigError, match="ssh.host: .* must not start with '-'"):
        parse_site(_site(host="-oProxyCommand=x"))


def test_remote_command_is_what_a_remote_shell_runs_word_for_word(tmp_path):
    """sshd hands the command string to the user's shell (``sh -c``): done here locally."""
    words = ["a b", "$(touch canary)", "it's", "x\ny", "`id`", "*", ""]
    cwd = tmp_path / "d ir $(x)"
    cwd.mkdir()
    code = "import os, sys; print(repr([sys.argv[1:], os.environ['K'], os.getcwd()]))"
    text = remote_command(["python3", "-c", code, *words], env={"K": "v $(w)"}, cwd=str(cwd))
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == repr([words, "v $(w)", str(cwd)])
    assert not (tmp_path / "canary").exists() and not (cwd / "canary").exists()


def test_ssh_failures_are_classified():
    assert type(classify_failure("Permission denied (publickey).", "s", "hpcflow login s")).__name__ == "SshAuthError"
    assert type(classify_failure("Host key verification failed.", "s", "l")).__name__ == "SshHostKeyError"
    assert type(classify_failure("ssh: connect to host x port 22: Connection refused", "s", "l")).__name__ == "SshDisconnected"
    assert classify_failure("my program failed", "s", "l") is None


def test_dispatcher_ssh_context_maps_onto_a_remote_steps_site():
    mapped = ssh_context_settings(
        {"batch_type": "Slurm", "context_type": "SSHContext", "remote_root": "/scratch/me/work",
         "remote_profile": {"hostname": "login.hpc", "username": "me", "port": 2222,
                            "key_filename": "/home/me/.ssh/id_ed25519", "timeout": 20}},
        {"queue_name": "gpu", "cpu_per_node": 8, "gpu_per_node": 1, "number_node": 2,
         "custom_flags": ["#SBATCH --mem=4G"], "source_list": ["/opt/env.sh"],
         "envs": {"OMP_NUM_THREADS": 8}, "group_size": 5})
    site = parse_site(mapped.site)
    assert site.ssh is not None and site.ssh.engine == "local"
    assert (site.ssh.host, site.ssh.user, site.ssh.port) == ("login.hpc", "me", 2222)
    assert site.ssh.identity_file == "/home/me/.ssh/id_ed25519" and site.ssh.connect_timeout_s == 20
    assert site.work_root == "/scratch/me/work"
    assert mapped.executor["resources"] == {"partition": "gpu", "cpus": 8, "gpus": 1,
                                            "extra_options": ["--nodes=2", "--mem=4G"]}
    assert mapped.executor["setup"] == ["source /opt/env.sh"]
    assert mapped.executor["envs"] == {"OMP_NUM_THREADS": "8"}
    assert mapped.executor["group_size"] == 5


@pytest.mark.parametrize("machine, resources, message", [
    ({"remote_profile": {"hostname": "h", "password": "x"}}, {}, "never stores secrets"),
    ({"remote_profile": {"hostname": "h", "totp_secret": "x"}}, {}, "never stores secrets"),
    ({"remote_profile": {"hostname": "h", "proxy_command": "x"}}, {}, "unsupported remote_profile keys: proxy_command"),
    ({"remote_profile": {"hostname": "h"}, "symlink": True}, {}, "unsupported machine_dict keys: symlink"),
    ({"remote_profile": {"hostname": "h"}}, {"strategy": {}}, "unsupported resources_dict keys: strategy"),
    ({"remote_profile": {"hostname": "h"}, "batch_type": "PBS"}, {}, "batch_type 'PBS'"),
])
def test_dispatcher_ssh_context_refuses_what_hpcflow_cannot_honour(machine, resources, message):
    full = {"batch_type": "Slurm", "context_type": "SSHContext", "remote_root": "/r"} | machine
    with pytest.raises(ConfigError, match=message):
        ssh_context_settings(full, resources)
