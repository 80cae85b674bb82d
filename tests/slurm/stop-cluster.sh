#!/usr/bin/env bash
# Stop the daemons start-cluster.sh started (by their pid files) and remove the pid files.
for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
sleep 1
rm -f /run/slurmd.pid /run/slurmctld.pid
pkill -x munged 2>/dev/null || true
exit 0
