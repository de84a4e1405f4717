#!/usr/bin/env bash
# test/infra/slurm.sh — a throwaway single-node Slurm for tsmpi's tests: Debian's slurm-wlm and munge,
# slurmctld and slurmd on 127.0.0.1, started without systemd (the configuration is the one verified in
# shared/research/slurm.md).
#
# The cluster is private: its slurm.conf, state, spool, logs and pid files live in CLUSTER_DIR (under
# /run/tsmpi-slurm, root's tmpfs), its daemons listen on two free ports chosen at start, and every Slurm
# command reaches it through SLURM_CONF. Nothing under /etc/slurm or the system's spool and log folders
# is read or written, so on a machine that already runs Slurm (a cluster's login node) the suite leaves
# the real cluster alone. munge is the system's: it is started only if it is not running.
#
#   bash test/infra/slurm.sh up   [--holder PID]   install if missing, configure, start, wait until idle
#   bash test/infra/slurm.sh down [--holder PID] [--force]
#                                                  cancel jobs, stop the daemons `up` started, clean state
#   bash test/infra/slurm.sh env                   KEY=VALUE lines describing the test cluster (SLURM_CONF,
#                                                  TEST_SLURM_PARTITION/NODE/CPUS/UP; no TSMPI_ prefix,
#                                                  which the runtime reserves for its own settings)
#   bash test/infra/slurm.sh status                exit 0 when the node is idle/allocated, 1 otherwise
#
# Several test files may share the one cluster (vitest runs files in parallel). `up --holder PID`
# registers the calling process as a user; `down --holder PID` unregisters it and stops the daemons only
# when no other live holder remains (holders whose process has died are ignored), so one file's afterAll
# does not pull Slurm out from under another file's running job. `down --force` stops regardless.
# Every up/down runs under one flock, so concurrent calls serialise.
#
# Environment: TEST_SLURM_WAIT_S (default 30) bounds the wait for the node to become idle.
set -euo pipefail

INFRA_NAME=slurm
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

STATE_DIR=/run/tsmpi-slurm           # tmpfs, root's: what `up` started and who holds the cluster
LOCK_FILE=/run/tsmpi-slurm.lock
CLUSTER_DIR=$STATE_DIR/cluster       # the private cluster: configuration, state, spool, logs, pid files
export SLURM_CONF=$CLUSTER_DIR/slurm.conf # read by sinfo, scontrol, squeue, scancel below (and by the tests)
MUNGE_PIDFILE=/run/munge/munged.pid
CTLD_PIDFILE=$CLUSTER_DIR/slurmctld.pid
SLURMD_PIDFILE=$CLUSTER_DIR/slurmd.pid
NODE_NAME=localhost
PARTITION=debug
NODE_CPUS=16
WAIT_S=${TEST_SLURM_WAIT_S:-30}

# free_ports N — N distinct TCP ports nobody listens on at 127.0.0.1, below Linux's ephemeral range
# (32768 and up) so that no outgoing connection takes one before the daemons bind it.
free_ports() {
  node -e '
    const net = require("node:net");
    const wanted = Number(process.argv[1]), found = [];
    const attempt = (tries) => {
      if (found.length === wanted) return console.log(found.join(" "));
      if (tries === 0) { console.error("no free port found"); process.exit(1); }
      const port = 20000 + Math.floor(Math.random() * 12000);
      if (found.includes(port)) return attempt(tries - 1);
      const probe = net.createServer().once("error", () => attempt(tries - 1));
      probe.listen(port, "127.0.0.1", () => probe.close(() => { found.push(port); attempt(tries - 1); }));
    };
    attempt(200);' "$1"
}

write_conf() { # write_conf CTLD_PORT SLURMD_PORT
  cat <<EOF
# written by tsmpi test/infra/slurm.sh (shared/research/slurm.md) for the test cluster only
ClusterName=tsmpitest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=$1
SlurmdPort=$2
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmctldPidFile=$CTLD_PIDFILE
SlurmdPidFile=$SLURMD_PIDFILE
SlurmctldLogFile=$CLUSTER_DIR/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# keeps every Slurm listener on 127.0.0.1 (without it they bind all interfaces):
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
# lets a small machine advertise $NODE_CPUS CPUs:
SlurmdParameters=config_overrides
NodeName=$NODE_NAME NodeAddr=127.0.0.1 CPUs=$NODE_CPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

# pid_from PIDFILE COMM — prints the pid when the file names a live process whose name is COMM (a stale
# pid file whose number was reused by another program must not count, nor be killed).
pid_from() {
  local pidfile=$1 comm=$2 pid
  [ -r "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$comm" ] || return 1
  echo "$pid"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND... — polls every 0.1 s
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { infra_log "timed out after ${deadline}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

node_state() { sinfo -h -o %T 2>/dev/null | head -n 1; }
node_ready() { case "$(node_state)" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac; }

start_daemon() { # start_daemon NAME PIDFILE COMM COMMAND...
  local name=$1 pidfile=$2 comm=$3
  shift 3
  if pid_from "$pidfile" "$comm" >/dev/null; then
    infra_log "$name already running (pid $(pid_from "$pidfile" "$comm"))"
    return 0
  fi
  # The daemon must not inherit our stdio or the flock on fd 9: a caller capturing our output would wait
  # for the daemon's copy of the pipe to close (forever), and the lock would be held as long as it runs.
  local startlog="$CLUSTER_DIR/start-$name.log"
  "$@" </dev/null >"$startlog" 2>&1 9>&- || { cat "$startlog" >&2; infra_die "$name failed to start ($*)"; }
  if ! wait_for 10 "$name pid file $pidfile" pid_from "$pidfile" "$comm" >/dev/null; then
    cat "$startlog" >&2
    dump_logs
    infra_die "$name did not come up"
  fi
  # Only what we started is ours to stop in `down`.
  echo "$pidfile $comm" >"$STATE_DIR/started-$name"
}

# stop_daemons NAME... — TERM to all at once (each takes about 2 s to exit, so in parallel), up to 10 s
# grace, then KILL; only daemons `up` started.
stop_daemons() {
  local name marker pidfile comm pid pids=() pidfiles=()
  for name in "$@"; do
    marker="$STATE_DIR/started-$name"
    [ -r "$marker" ] || continue
    read -r pidfile comm <"$marker"
    if pid=$(pid_from "$pidfile" "$comm"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$marker"
    [ "$name" = munged ] || pidfiles+=("$pidfile") # munged removes its own
  done
  for pid in "${pids[@]}"; do
    if ! wait_for 10 "pid $pid to exit" test ! -d "/proc/$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_for 5 "pid $pid to die" test ! -d "/proc/$pid" || true
    fi
  done
  rm -f "${pidfiles[@]}"
}

dump_logs() {
  for f in "$CLUSTER_DIR/slurmctld.log" "$CLUSTER_DIR/slurmd.log"; do
    [ -r "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
  done
  return 0
}

live_holders() {
  local f pid
  for f in "$STATE_DIR"/holders/*; do
    [ -e "$f" ] || continue
    pid=${f##*/}
    if [ -d "/proc/$pid" ]; then echo "$pid"; else rm -f "$f"; fi
  done
}

cmd_up() {
  local holder=$1
  infra_require_root
  infra_apt_install slurm-wlm munge 9>&-
  mkdir -p "$STATE_DIR/holders" "$CLUSTER_DIR"
  chmod 700 "$STATE_DIR" "$CLUSTER_DIR"

  if ! pid_from "$MUNGE_PIDFILE" munged >/dev/null; then
    mkdir -p /run/munge
    chown munge:munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
      # Debian's postinst creates the key; a machine where that step was skipped still needs one.
      /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
      chown munge:munge /etc/munge/munge.key
      chmod 600 /etc/munge/munge.key
    fi
    start_daemon munged "$MUNGE_PIDFILE" munged runuser -u munge -- /usr/sbin/munged
  fi
  wait_for 10 "munge socket" test -S /run/munge/munge.socket.2 || infra_die "munged is not listening"

  if ! pid_from "$CTLD_PIDFILE" slurmctld >/dev/null; then
    # A fresh cluster: new ports (the last ones may be taken by now), empty state and spool.
    rm -rf "$CLUSTER_DIR/state" "$CLUSTER_DIR/spool"
    mkdir -p "$CLUSTER_DIR/state" "$CLUSTER_DIR/spool"
    local ports
    ports=$(free_ports 2) || infra_die "no free ports for slurmctld and slurmd"
    # shellcheck disable=SC2086 # two words: the two ports
    write_conf $ports >"$SLURM_CONF.tmp" && mv "$SLURM_CONF.tmp" "$SLURM_CONF"
  fi
  # -c: start from empty state, so jobs of an earlier run (or a crashed test) are forgotten.
  start_daemon slurmctld "$CTLD_PIDFILE" slurmctld /usr/sbin/slurmctld -c -f "$SLURM_CONF"
  # -N: the machine's host name is not "localhost", so the node name is forced to the one in slurm.conf.
  start_daemon slurmd "$SLURMD_PIDFILE" slurmd /usr/sbin/slurmd -f "$SLURM_CONF" -N "$NODE_NAME"

  if ! wait_for "$WAIT_S" "node $NODE_NAME to be idle (sinfo -h -o %T)" node_ready; then
    case "$(node_state)" in
      down* | drain* | fail*)
        # A node remembered as down from a crash is returned to service once, then waited for again.
        scontrol update NodeName="$NODE_NAME" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if ! wait_for 10 "node $NODE_NAME after RESUME" node_ready; then
      dump_logs
      infra_die "Slurm did not become ready within ${WAIT_S}s (sinfo state: '$(node_state)')"
    fi
  fi
  if [ -n "$holder" ]; then touch "$STATE_DIR/holders/$holder"; fi
  infra_log "up: node $NODE_NAME $(node_state), partition $PARTITION"
}

cmd_down() {
  local holder=$1 force=$2 others
  if [ -n "$holder" ]; then rm -f "$STATE_DIR/holders/$holder"; fi
  others=$(live_holders | tr '\n' ' ')
  if [ -n "$others" ] && [ "$force" != 1 ]; then
    infra_log "down: still held by pid(s) $others— leaving Slurm running"
    return 0
  fi
  if pid_from "$CTLD_PIDFILE" slurmctld >/dev/null; then
    # Jobs first, so no slurmstepd (whose pid no file records) outlives the daemons.
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    wait_for 15 "jobs to leave the queue" sh -c '[ -z "$(squeue -h -o %i 2>/dev/null)" ]' || true
  fi
  stop_daemons slurmd slurmctld munged
  rm -rf "$CLUSTER_DIR" "$STATE_DIR/holders"
  infra_log "down"
}

cmd_env() {
  echo "SLURM_CONF=$SLURM_CONF"
  echo "TEST_SLURM_PARTITION=$PARTITION"
  echo "TEST_SLURM_NODE=$NODE_NAME"
  echo "TEST_SLURM_CPUS=$NODE_CPUS"
  if node_ready; then echo "TEST_SLURM_UP=1"; else echo "TEST_SLURM_UP=0"; fi
}

main() {
  local action=${1:-} holder='' force=0
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do
    case $1 in
      --holder) holder=${2:?--holder needs a pid}; shift 2 ;;
      --force) force=1; shift ;;
      *) infra_die "unknown argument '$1'" ;;
    esac
  done
  [ -z "$holder" ] || [[ "$holder" =~ ^[0-9]+$ ]] || infra_die "--holder must be a pid"
  case $action in
    up | down)
      infra_require_root
      mkdir -p "$STATE_DIR"
      exec 9>"$LOCK_FILE"
      flock -w 300 9 || infra_die "another slurm.sh held $LOCK_FILE for 300 s"
      if [ "$action" = up ]; then cmd_up "$holder"; else cmd_down "$holder" "$force"; fi ;;
    env) cmd_env ;;
    status) node_ready ;;
    *) echo "usage: $0 up|down [--holder PID] [--force] | env | status" >&2; exit 2 ;;
  esac
}

main "$@"
