#!/usr/bin/env bash
# Start the cluster, then run the given command (e.g. pytest) or stay up until stopped.
set -euo pipefail
cluster=/opt/hpcflow/slurm-test-cluster.sh
"$cluster" start
trap '"$cluster" stop; exit 0' TERM INT
if [[ $# -gt 0 ]]; then
    rc=0
    "$@" || rc=$?
    "$cluster" stop
    exit "$rc"
fi
sleep infinity &
wait $!
