#!/bin/bash
# procession's own one-machine Slurm cluster for tests (Debian 12, Slurm 22.05).
#
#   slurm-testbed.sh install   apt-get install slurmctld slurmd slurm-client munge (root)
#   slurm-testbed.sh start     write the configuration under $TESTBED_DIR, start
#                              munged, slurmctld and one slurmd per node; wait
#                              until every node is idle (fails after 60 s)
#   slurm-testbed.sh stop      cancel every job, stop the daemons by their pid files
#   slurm-testbed.sh status    sinfo and node states
#   slurm-testbed.sh env       print `export SLURM_CONF=...` (use: source <(... env))
#   slurm-testbed.sh clean     stop, then remove $TESTBED_DIR
#
# Nodes are virtual: node-1..node-N, each its own `slurmd -N node-i` on its
# own port. NodeAddr of node-i is the i-th word of $SLURM_NODE_ADDRS (default
# 127.0.0.1 for all): tests give the loopback testbed's addresses, so that a
# node's NodeAddr is an ssh host of the testbed. slurmd listens on every
# address, and all of 127.0.0.0/8 is loopback on Linux, so slurmctld reaches
# node-i at its NodeAddr.
#
# Nothing is written outside $TESTBED_DIR but the packages: clients find the
# cluster through SLURM_CONF=$TESTBED_DIR/slurm.conf, and munge clients
# through the AuthInfo socket named in slurm.conf. A private munge key keeps
# this cluster apart from any other munge on the machine.
#
# Installing the Debian packages starts no daemon here (no systemd in the
# containers); where the package scripts start munge or slurm services from
# /etc, they do not disturb this cluster (private socket, ports, state).
#
# Settings (environment):
#   TESTBED_DIR          default /tmp/procession-slurm
#   SLURM_NODES          number of nodes, default 4
#   SLURM_NODE_ADDRS     NodeAddr of each node, space-separated (default 127.0.0.1 each)
#   SLURM_CPUS_PER_NODE  default 2
#   SLURM_CTLD_PORT      slurmctld port, default 16817
#   SLURM_NODE_PORT0     node i listens on SLURM_NODE_PORT0 + i, default 16900
#   SLURM_READY_TIMEOUT  seconds `start` waits for idle nodes, default 60
set -euo pipefail

TB=${TESTBED_DIR:-/tmp/procession-slurm}
NODES=${SLURM_NODES:-4}
CPUS=${SLURM_CPUS_PER_NODE:-2}
CTLD_PORT=${SLURM_CTLD_PORT:-16817}
NODE_PORT0=${SLURM_NODE_PORT0:-16900}
READY_TIMEOUT=${SLURM_READY_TIMEOUT:-60}
read -r -a ADDRS <<<"${SLURM_NODE_ADDRS:-}"
HOST=$(hostname -s)
export SLURM_CONF=$TB/slurm.conf
log() { printf '[slurm-testbed %(%T)T] %s\n' -1 "$*" >&2; }

cmd_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    slurmctld slurmd slurm-client munge
}

node_lines() {
  local i addr
  for i in $(seq 1 "$NODES"); do
    addr=${ADDRS[$((i - 1))]:-127.0.0.1}
    echo "NodeName=node-$i NodeHostname=$HOST NodeAddr=$addr Port=$((NODE_PORT0 + i)) CPUs=$CPUS RealMemory=1000 State=UNKNOWN"
  done
}

write_conf() {
  if [ "${#ADDRS[@]}" -ne 0 ] && [ "${#ADDRS[@]}" -ne "$NODES" ]; then
    log "SLURM_NODE_ADDRS has ${#ADDRS[@]} addresses for $NODES nodes"; exit 2
  fi
  mkdir -p "$TB"/{state,log,run,spool}
  install -d -o munge -g munge -m 0755 "$TB/munge"
  if [ ! -f "$TB/munge/munge.key" ]; then
    dd if=/dev/urandom of="$TB/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$TB/munge/munge.key"; chmod 0400 "$TB/munge/munge.key"
  fi
  cat >"$TB/slurm.conf" <<CONF
ClusterName=procession
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$TB/munge/munge.socket
StateSaveLocation=$TB/state
SlurmdSpoolDir=$TB/spool/%n
SlurmctldPidFile=$TB/run/slurmctld.pid
SlurmdPidFile=$TB/run/slurmd-%n.pid
SlurmctldLogFile=$TB/log/slurmctld.log
SlurmdLogFile=$TB/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The virtual nodes claim what slurm.conf says, not what the machine has.
SlurmdParameters=config_overrides
ReturnToService=2
# Reject impossible requests at submission (default: accepted, then PENDING forever).
EnforcePartLimits=ALL
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
$(node_lines)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

idle_nodes() { sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l; }

cmd_start() {
  local i deadline
  write_conf
  if ! pid_alive "$TB/munge/munged.pid"; then
    runuser -u munge -- /usr/sbin/munged --socket="$TB/munge/munge.socket" \
      --key-file="$TB/munge/munge.key" --pid-file="$TB/munge/munged.pid" \
      --log-file="$TB/munge/munged.log" --seed-file="$TB/munge/munged.seed"
  fi
  # -i: ignore state from an earlier run of this directory (jobs, node states).
  pid_alive "$TB/run/slurmctld.pid" || /usr/sbin/slurmctld -i -f "$SLURM_CONF"
  for i in $(seq 1 "$NODES"); do
    mkdir -p "$TB/spool/node-$i"
    pid_alive "$TB/run/slurmd-node-$i.pid" || /usr/sbin/slurmd -f "$SLURM_CONF" -N "node-$i"
  done
  deadline=$((SECONDS + READY_TIMEOUT))
  until [ "$(idle_nodes)" -ge "$NODES" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "nodes not idle after ${READY_TIMEOUT}s"; sinfo -N >&2 || true
      tail -n 20 "$TB"/log/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "up: $NODES nodes idle, SLURM_CONF=$SLURM_CONF"
}

# TERM the daemons of these pid files, wait up to 10 s, then KILL the survivors.
stop_pids() {
  local f pids=()
  for f in "$@"; do pid_alive "$f" && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "${pids[@]}" 2>/dev/null || break  # true while any of them lives
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then log "pid $pid survived SIGTERM, SIGKILL"; kill -KILL "$pid" || true; fi
  done
}

cmd_stop() {
  local jobs
  # Cancel every job first: a job's slurmstepd outlives slurmd if killed under it.
  if pid_alive "$TB/run/slurmctld.pid"; then
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      scancel $jobs || true
      for _ in $(seq 100); do
        [ -z "$(squeue -h -o %i -t PD,R,CG 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  fi
  # slurmd first (all at once: each takes about 2 s to exit), then slurmctld, then munged.
  stop_pids "$TB"/run/slurmd-*.pid
  stop_pids "$TB/run/slurmctld.pid"
  stop_pids "$TB/munge/munged.pid"
  log stopped
}

cmd_status() { sinfo; scontrol show nodes | grep -E 'NodeName|State='; }

cmd_clean() { cmd_stop; rm -rf "$TB"; }

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  clean) cmd_clean ;;
  *) echo "usage: $0 install|start|stop|status|env|clean" >&2; exit 2 ;;
esac
