#!/usr/bin/env bash
# Start a single-node SLURM cluster on loopback (as root), for the SLURM test.
# Facts from ../shared/notes/slurm-local.md: Debian's slurm-wlm + munge, no cgroups, no
# accounting (so job status comes from squeue, see profiles/slurm), loopback only.
set -euo pipefail
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
host=$(hostname -s)
getent hosts "$host" | grep -q '^127\.' || { echo "hostname $host must resolve to 127.0.0.1" >&2; exit 1; }

# munge: the key Debian's installer made; a run directory owned by munge.
[ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged

node=$(slurmd -C | head -n 1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=codecsweep-test
SlurmctldHost=localhost
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
SlurmUser=root
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
DefMemPerCPU=500
MinJobAge=300
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$((mem * 95 / 100)) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd
for _ in $(seq 1 30); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && { sinfo; exit 0; }
    sleep 1
done
echo "SLURM did not become idle" >&2
sinfo >&2 || true
exit 1
