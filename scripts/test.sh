#!/usr/bin/env bash
# Install what the test suite needs on a Debian 12 host, start the services it talks to
# (a single-node Slurm cluster with accounting; the S3 server and the test sshd are started
# by the tests, on 127.0.0.1),
# build the container test image, and run ruff, mypy and pytest. Run as root (apt, Slurm daemons).
# This is what CI runs (.ci/run) and what README.md tells a newcomer to paste.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh needs root (apt-get, Slurm daemons): sudo bash scripts/test.sh" >&2
    exit 2
fi
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip slurm-wlm munge mariadb-server slurmdbd \
    charliecloud-runtime squashfuse debootstrap chromium openssh-server openssh-client rsync
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"
export USER="${USER:-$(id -un)}"
scripts/slurm-test-cluster.sh start
export HPCFLOW_TEST_IMAGE="${HPCFLOW_TEST_IMAGE:-/var/tmp/hpcflow-test-image}"
scripts/build-test-image.sh "$HPCFLOW_TEST_IMAGE"
.venv/bin/python -m ruff check hpcflow tests examples bench
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
