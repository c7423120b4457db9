#!/usr/bin/env bash
# CI: install Slurm, munge and MariaDB from Debian, then start the single-node test cluster
# with accounting. Needs root on a Debian 12 host (no systemd needed). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q slurm-wlm munge mariadb-server slurmdbd
"$here/scripts/slurm-test-cluster.sh" start
