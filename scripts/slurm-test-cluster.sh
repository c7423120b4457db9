#!/usr/bin/env bash
# Single-node Slurm 22.05 test cluster with accounting, for a bare Debian 12 host (no systemd).
#
#   scripts/slurm-test-cluster.sh start [--install] [--no-accounting]
#   scripts/slurm-test-cluster.sh stop
#   scripts/slurm-test-cluster.sh status
#
# `start` writes the configuration, then starts munged -> MariaDB -> slurmdbd -> slurmctld ->
# slurmd, each only if its pid file does not name a live process, registers the cluster in
# accounting, and waits until the node is idle and `sacct` answers. It is safe to re-run.
# `stop` signals only the PIDs recorded in the pid files. Everything binds to 127.0.0.1.
# Recipe and gotchas: see the project's slurm-test-cluster notes (MaxArraySize=100001, 32 fake
# CPUs on any core count via config_overrides, proctrack/linuxproc because cgroups are unusable).
set -euo pipefail

ROOT=${SLURMTEST_ROOT:-/tmp/slurmtest}
HOST=$(hostname -s)
CLUSTER=testcluster
DB_PASS=slurmdbpass
SLURM_CONF_FILE=/etc/slurm/slurm.conf
DBD_CONF_FILE=/etc/slurm/slurmdbd.conf
MARIADB_CNF=/etc/mysql/mariadb.conf.d/99-slurm-local.cnf
MUNGE_PID=/run/munge/munged.pid
MYSQLD_PID=/run/mysqld/mysqld.pid
MYSQLD_SAFE_PID=$ROOT/mysqld_safe.pid
DBD_PID=$ROOT/slurmdbd.pid
CTLD_PID=$ROOT/slurmctld.pid
SLURMD_PID=$ROOT/slurmd-$HOST.pid
PACKAGES=(slurm-wlm munge mariadb-server slurmdbd)

log() { printf '[slurm-test-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# alive PIDFILE NAME: the pid file names a running process whose command is NAME (not a reused pid).
alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    [[ $(</proc/"$pid"/comm) == "$2"* ]]
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD once a second until it succeeds.
wait_for() {
    local timeout=$1 what=$2 i
    shift 2
    for ((i = 0; i < timeout; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    die "timed out after ${timeout}s waiting for $what (logs in $ROOT/log)"
}

# write_if_changed PATH MODE: replace PATH with stdin only when the content differs.
write_if_changed() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
        return 0
    fi
    install -D -m "$2" -o root -g root "$tmp" "$1"
    rm -f "$tmp"
    log "wrote $1"
    CONFIG_CHANGED=yes
}

install_packages() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${PACKAGES[@]}"
}

ensure_hostname_resolves() {
    # slurmctld/slurmd bind to the address the host name resolves to (NoInAddrAny).
    local addr
    addr=$(getent hosts "$HOST" | awk '{print $1; exit}') || true
    [[ $addr == 127.0.0.1 ]] && return 0
    log "making $HOST resolve to 127.0.0.1 in /etc/hosts (was '${addr:-unresolved}')"
    local tmp
    tmp=$(mktemp)
    { printf '127.0.0.1 %s\n' "$HOST"; cat /etc/hosts; } >"$tmp"
    cat "$tmp" >/etc/hosts # rewrite in place: /etc/hosts may be a bind mount (Docker)
    rm -f "$tmp"
}

write_configs() {
    local acct_type=accounting_storage/slurmdbd
    [[ ${ACCOUNTING} == yes ]] || acct_type=accounting_storage/none
    mkdir -p "$ROOT/state" "$ROOT/log" "$ROOT/spool"
    write_if_changed "$SLURM_CONF_FILE" 0644 <<EOF
# Written by scripts/slurm-test-cluster.sh (hpcflow single-node test cluster).
ClusterName=$CLUSTER
SlurmctldHost=$HOST
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool/%n
SlurmctldPidFile=$ROOT/slurmctld.pid
SlurmdPidFile=$ROOT/slurmd-%n.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobCompType=jobcomp/filetxt
JobCompLoc=$ROOT/log/jobcomp.txt
AccountingStorageType=$acct_type
AccountingStorageHost=$HOST
AccountingStoragePort=6819
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MaxArraySize=100001
MaxJobCount=200000
MinJobAge=300
NodeName=$HOST CPUs=32 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
SlurmdParameters=config_overrides
DefMemPerCPU=100
SchedulerParameters=defer_batch,bf_interval=1
EOF
    write_if_changed "$DBD_CONF_FILE" 0600 <<EOF
# Written by scripts/slurm-test-cluster.sh (hpcflow single-node test cluster).
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$ROOT/log/slurmdbd.log
PidFile=$DBD_PID
CommunicationParameters=NoInAddrAny
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    write_if_changed "$MARIADB_CNF" 0644 <<EOF
# Written by scripts/slurm-test-cluster.sh: loopback only, sized for slurmdbd.
[mysqld]
bind-address = 127.0.0.1
port = 3306
innodb_buffer_pool_size = 256M
innodb_lock_wait_timeout = 900
innodb_log_file_size = 64M
EOF
}

start_munge() {
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        runuser -u munge -- /usr/sbin/mungekey --create
    fi
    if alive "$MUNGE_PID" munged; then log "munged already running"; return 0; fi
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    wait_for 20 "munge credentials" bash -c 'munge -n | unmunge'
}

start_mariadb() {
    if mariadb-admin ping >/dev/null 2>&1; then log "MariaDB already running"; else
        log "starting MariaDB"
        install -d -o mysql -g root /run/mysqld
        # A plain async command (not a list) so $! is mysqld_safe itself and nothing of ours
        # keeps the caller's stdout open.
        (
            cd /
            setsid nohup /usr/bin/mysqld_safe >"$ROOT/log/mysqld_safe.out" 2>&1 </dev/null &
            echo $! >"$MYSQLD_SAFE_PID"
        )
        wait_for 60 "MariaDB" mariadb-admin ping
    fi
    mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    if alive "$DBD_PID" slurmdbd; then log "slurmdbd already running"; else
        log "starting slurmdbd"
        slurmdbd
    fi
    wait_for 60 "slurmdbd" sacctmgr -n show cluster
}

register_cluster() {
    # sacctmgr reads slurm.conf, which already names the slurmdbd plugin here.
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER"
    fi
    if ! sacctmgr -n -P show account format=account | grep -qx hpcflow; then
        sacctmgr -i add account hpcflow Description="hpcflow tests" Organization=hpcflow
    fi
    if ! sacctmgr -n -P show user format=user | grep -qx root; then
        sacctmgr -i add user root DefaultAccount=hpcflow
    fi
}

start_slurm() {
    if alive "$CTLD_PID" slurmctld; then log "slurmctld already running"; else
        log "starting slurmctld"
        slurmctld
    fi
    wait_for 60 "slurmctld" scontrol ping
    if alive "$SLURMD_PID" slurmd; then log "slurmd already running"; else
        log "starting slurmd"
        slurmd
    fi
}

node_idle() {
    local state
    state=$(sinfo --noheader -n "$HOST" -o %t)
    case $state in
        idle | mix | alloc) return 0 ;;
        down* | drain* | drng* | inval*)
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
            return 1 ;;
        *) return 1 ;;
    esac
}

sacct_answers() { sacct -X --noheader -S "$(date +%Y-%m-%dT00:00:00)" >/dev/null; }

cmd_start() {
    local t0=$SECONDS
    [[ $(id -u) == 0 ]] || die "run as root (it writes /etc/slurm and starts daemons)"
    [[ ${INSTALL} == yes ]] && install_packages
    command -v slurmctld >/dev/null || die "Slurm is not installed; re-run with --install"
    ensure_hostname_resolves
    write_configs
    if [[ ${CONFIG_CHANGED} == yes ]] && alive "$CTLD_PID" slurmctld; then
        log "WARNING: configuration changed while the cluster runs; apply it with: $0 stop; $0 start"
    fi
    start_munge
    if [[ ${ACCOUNTING} == yes ]]; then
        start_mariadb
        start_slurmdbd
        register_cluster
    fi
    start_slurm
    wait_for 90 "node $HOST to become idle" node_idle
    if [[ ${ACCOUNTING} == yes ]]; then wait_for 60 "sacct" sacct_answers; fi
    sinfo
    log "cluster ready in $((SECONDS - t0)) s (logs: $ROOT/log)"
}

# stop_pid PIDFILE NAME: SIGTERM the recorded process and wait for it to go.
stop_pid() {
    local pid i
    alive "$1" "$2" || return 0
    pid=$(<"$1")
    log "stopping $2 (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 30; i++)); do
        [[ -e /proc/$pid ]] || return 0
        sleep 1
    done
    log "WARNING: $2 (pid $pid) still running after 30 s"
}

cmd_stop() {
    stop_pid "$SLURMD_PID" slurmd
    stop_pid "$CTLD_PID" slurmctld
    stop_pid "$DBD_PID" slurmdbd
    # Stop mysqld first so mysqld_safe sees a clean shutdown and exits instead of restarting it.
    stop_pid "$MYSQLD_PID" mariadbd
    stop_pid "$MYSQLD_SAFE_PID" mysqld_safe
    stop_pid "$MUNGE_PID" munged
}

cmd_status() {
    local rc=0 pair file name
    for pair in "$MUNGE_PID:munged" "$MYSQLD_PID:mariadbd" "$DBD_PID:slurmdbd" \
        "$CTLD_PID:slurmctld" "$SLURMD_PID:slurmd"; do
        file=${pair%:*}
        name=${pair##*:}
        if alive "$file" "$name"; then
            printf '%-10s running (pid %s)\n' "$name" "$(<"$file")"
        else
            printf '%-10s stopped\n' "$name"
            rc=1
        fi
    done
    if scontrol ping >/dev/null 2>&1; then sinfo; fi
    return $rc
}

ACTION=${1:-}
[[ $# -gt 0 ]] && shift
INSTALL=no
ACCOUNTING=yes
CONFIG_CHANGED=no
for arg in "$@"; do
    case $arg in
        --install) INSTALL=yes ;;
        --no-accounting) ACCOUNTING=no ;;
        *) die "unknown option: $arg" ;;
    esac
done
case $ACTION in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start [--install] [--no-accounting] | stop | status" >&2; exit 2 ;;
esac
