#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the Slurm executor's tests and for
# trying `run --executor slurm` by hand: this host is both controller and compute node.
#
#   scripts/slurm.sh up      install (Debian packages) if missing, configure, start munged,
#                            slurmctld and slurmd, wait until the node is idle
#   scripts/slurm.sh down    stop what `up` started
#   scripts/slurm.sh status  sinfo
#
# No systemd is needed (these machines have none). It writes /etc/slurm/slurm.conf only when
# that file is absent or was written by this script, so a real cluster's config is never
# touched. Needs root (the daemons and apt-get).
set -euo pipefail

STATE=/var/lib/pneumo-slurm
CONF=/etc/slurm/slurm.conf
MARK="# written by pneumo-pipeline scripts/slurm.sh"

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

configure() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        echo "slurm.sh: $CONF exists and was not written by this script; using it as is" >&2
        return
    fi
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # leave the OS some memory; Slurm refuses a node that reports less than configured
    mem=$(($(free -m | awk '/^Mem:/ {print $2}') * 9 / 10))
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    chown -R slurm:slurm "$STATE/ctld" 2>/dev/null || true
    cat >"$CONF" <<EOF
$MARK
ClusterName=pneumo
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

running() { pgrep -x "$1" >/dev/null 2>&1; }

up() {
    install
    configure
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if ! running munged; then
        if [ ! -s /etc/munge/munge.key ]; then
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
            chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
        fi
        su -s /bin/sh munge -c "/usr/sbin/munged" 2>/dev/null || /usr/sbin/munged --force
    fi
    running slurmctld || /usr/sbin/slurmctld
    running slurmd || /usr/sbin/slurmd
    for _ in $(seq 1 60); do
        state=$(sinfo -h -o '%t' 2>/dev/null | head -1 || true)
        case "$state" in
        idle | mix | alloc) echo "slurm.sh: node $(hostname -s) is $state"; return 0 ;;
        down* | drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    echo "slurm.sh: the node did not come up; logs in $STATE/log" >&2
    sinfo >&2 || true
    tail -20 "$STATE"/log/*.log >&2 || true
    exit 1
}

down() {
    for d in slurmd slurmctld munged; do
        pkill -x "$d" 2>/dev/null || true
    done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) sinfo ;;
*)
    echo "usage: scripts/slurm.sh up|down|status" >&2
    exit 2
    ;;
esac
