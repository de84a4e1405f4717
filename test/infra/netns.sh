#!/usr/bin/env bash
# test/infra/netns.sh — a throwaway cluster of network-namespace "hosts" for tsmpi's multi-host tests,
# each host with its own network stack, address and sshd (Debian's openssh-server), joined by veth pairs
# to a bridge. Nothing touches the machine's own network: the bridge lives in a private network namespace
# (unshare --net) made here, and every host namespace hangs off it.
#
#   bash test/infra/netns.sh install        install iproute2 and openssh-server if missing (run once first)
#   bash test/infra/netns.sh up DIR [N]     build N hosts (default 3), print READY, then hold the cluster
#                                           until stdin reaches end of file (or SIGTERM), and tear it down
#
# `up` is a holder: the caller keeps its stdin open while it needs the cluster and closes it (or dies)
# to end everything. Every process started here is killed by PID on the way out, and also carries a
# parent-death signal, so even a SIGKILLed holder leaves nothing running; the namespaces vanish with
# their last process. All files (keys, configurations, logs) are under DIR, which the caller owns.
#
# DIR afterwards holds:
#   hosts           one line per host: "<index> <address> <pid of a process inside it>"
#   ssh_config      client configuration: the generated key, no host key checks; for `ssh -F DIR/ssh_config`
#   netns-agent     a launch agent: `netns-agent HOST CMD` runs CMD in HOST's namespace with nsenter
#                   (what `ip netns exec` does, without naming namespaces in the machine's /run/netns)
#   sshd-<i>.pid    the PID of each host's sshd (for checking sessions are gone)
# Hosts are 10.211.0.1 … 10.211.0.N; run a command "on" host i with
#   nsenter --net=/proc/<pid>/ns/net -- COMMAND
set -euo pipefail

INFRA_NAME=netns
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
SELF=$(readlink -f "$0")
SUBNET=10.211.0

cmd_install() {
  # dpkg's "installed", not the binaries alone: while another test file's install is under way, sshd is
  # unpacked before its package has made the sshd user, and an sshd started then fails ("Privilege
  # separation user sshd does not exist").
  if command -v ip >/dev/null 2>&1 && [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 &&
    infra_packages_installed iproute2 openssh-server openssh-client util-linux; then
    return 0
  fi
  infra_require_root
  # Serialise concurrent installs from test files running in parallel.
  exec 9>/run/tsmpi-netns-install.lock
  flock -w 300 9 || infra_die "another install held /run/tsmpi-netns-install.lock for 300 s"
  infra_apt_install iproute2 openssh-server openssh-client util-linux
}

# Runs as the holder inside the private "switch" namespace (see cmd_up).
# PIDs of everything inner() starts; global, because teardown runs from the EXIT trap after inner returned.
PIDS=()
SSHD_PIDS=()

inner() {
  local dir=$1 count=$2 i pid
  teardown() {
    trap - EXIT TERM INT HUP
    exec 2>/dev/null # bash's "Killed" notices for the processes below
    for pid in "${SSHD_PIDS[@]}" "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${SSHD_PIDS[@]}" "${PIDS[@]}"; do
      while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do sleep 0.02; done
    done
    wait 2>/dev/null || true
  }
  trap teardown EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP

  ip link set lo up
  ip link add br0 type bridge
  ip link set br0 up
  local ours
  ours=$(readlink /proc/self/ns/net)

  ssh-keygen -q -t ed25519 -N '' -C tsmpi-test-host -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C tsmpi-test-client -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  chmod 600 "$dir/host_key" "$dir/id_ed25519" "$dir/authorized_keys"
  cat >"$dir/ssh_config" <<EOF
Host *
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  ConnectTimeout 10
  ControlMaster no
EOF
  chmod 600 "$dir/ssh_config"
  mkdir -p /run/sshd # sshd's privilege-separation directory (Debian's service creates it at start)
  : >"$dir/hosts"

  for i in $(seq 1 "$count"); do
    # A process whose only job is to hold host i's network namespace.
    setpriv --pdeathsig KILL -- unshare --net -- sleep infinity &
    pid=$!
    PIDS+=("$pid")
    until [ -e "/proc/$pid/ns/net" ] && [ "$(readlink "/proc/$pid/ns/net")" != "$ours" ]; do
      [ -d "/proc/$pid" ] || infra_die "namespace holder $i exited"
      sleep 0.01
    done
    ip link add "vh$i" type veth peer name eth0 netns "$pid"
    ip link set "vh$i" master br0 up
    nsenter --net="/proc/$pid/ns/net" -- sh -c "ip link set lo up && ip addr add $SUBNET.$i/24 dev eth0 && ip link set eth0 up"

    cat >"$dir/sshd-$i.conf" <<EOF
ListenAddress $SUBNET.$i
Port 22
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd-$i.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
MaxStartups 64:30:128
MaxSessions 64
LogLevel ERROR
EOF
    nsenter --net="/proc/$pid/ns/net" -- setpriv --pdeathsig KILL -- /usr/sbin/sshd -D -e -f "$dir/sshd-$i.conf" 2>>"$dir/sshd-$i.log" &
    SSHD_PIDS+=("$!")
    echo "$i $SUBNET.$i $pid" >>"$dir/hosts"
  done

  # The launch agent for tests that do not go through ssh.
  {
    echo '#!/bin/sh'
    echo '# netns-agent [-x] HOST CMD: runs CMD in the namespace of HOST (made by test/infra/netns.sh);'
    echo '# -x (as Hydra passes to its -launcher-exec) is ignored'
    echo '[ "$1" = -x ] && shift'
    echo 'host=$1; shift'
    echo 'case $host in'
    while read -r i addr pid; do echo "  $addr|h$i) pid=$pid ;;"; done <"$dir/hosts"
    echo '  *) echo "netns-agent: unknown host $host" >&2; exit 255 ;;'
    echo 'esac'
    echo 'exec nsenter --net=/proc/$pid/ns/net -- sh -c "$*"'
  } >"$dir/netns-agent"
  chmod 700 "$dir/netns-agent"

  # Ready when every sshd accepts connections from host 1.
  local first_pid deadline=$((SECONDS + 20))
  first_pid=$(awk 'NR==1 {print $3}' "$dir/hosts")
  for i in $(seq 1 "$count"); do
    until nsenter --net="/proc/$first_pid/ns/net" -- bash -c "exec 3<>/dev/tcp/$SUBNET.$i/22" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { cat "$dir"/sshd-*.log >&2; infra_die "sshd on $SUBNET.$i did not start"; }
      sleep 0.05
    done
  done
  echo READY
  # Hold until the caller closes our stdin (or dies, which closes it too). In the background, so that a
  # SIGTERM runs the trap at once (bash defers traps while a foreground command runs).
  # (<&0: without a redirection of its own, a background command of a script reads /dev/null.)
  cat <&0 >/dev/null &
  PIDS+=("$!")
  wait "$!" || true
}

cmd_up() {
  local dir=${1:?usage: netns.sh up DIR [N]} count=${2:-3}
  infra_require_root
  [ -d "$dir" ] || infra_die "$dir is not a directory"
  command -v ip >/dev/null 2>&1 && [ -x /usr/sbin/sshd ] || infra_die "iproute2/openssh-server missing: run 'netns.sh install' first"
  # The holder itself lives in a private network namespace: the bridge goes there. Its parent-death
  # signal ends it (and, through theirs, everything below) should the caller die.
  exec setpriv --pdeathsig TERM -- unshare --net -- bash "$SELF" inner "$(readlink -f "$dir")" "$count"
}

case ${1:-} in
  install) cmd_install ;;
  up) shift; cmd_up "$@" ;;
  inner) shift; inner "$@" ;;
  *) echo "usage: $0 install | up DIR [N]" >&2; exit 2 ;;
esac
