# test/infra/lib.sh — helpers shared by the test-infrastructure scripts (sourced, never run).
#
# The scripts install Debian packages on demand so that CI on a fresh machine needs nothing prepared by
# hand; on a machine where the packages are already there they cost a dpkg query and nothing more.

infra_log() { printf '[%s] %s\n' "${INFRA_NAME:-infra}" "$*" >&2; }
infra_die() { printf '[%s] ERROR: %s\n' "${INFRA_NAME:-infra}" "$*" >&2; exit 1; }

infra_require_root() {
  # Package installs, /etc/slurm and daemons that switch users all need root; say so instead of failing
  # half-way with a permission error somewhere inside apt or slurmd.
  [ "$(id -u)" = 0 ] || infra_die "must run as root (needs apt-get install and to start system daemons); current uid $(id -u)"
  command -v apt-get >/dev/null 2>&1 || infra_die "apt-get not found: these scripts expect a Debian/Ubuntu machine"
}

# True when every named package is installed (dpkg status "install ok installed").
infra_packages_installed() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || return 1
  done
}

# infra_apt_install PKG... — installs the packages that are missing, without recommends.
infra_apt_install() {
  local missing=() pkg
  for pkg in "$@"; do infra_packages_installed "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  infra_require_root

  # On a machine with systemd, package scripts start the daemons right away (slurmctld before any
  # slurm.conf exists, so it fails and the install reports an error). A policy-rc.d that exits 101 tells
  # invoke-rc.d "do not start services". Docker images already ship one; only add (and later remove) ours
  # when there is none.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from tsmpi test/infra: do not start services during package installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=1
  fi

  # Lock::Timeout: another test (or apt itself) may hold the dpkg lock; wait for it instead of failing.
  local apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=300)
  infra_log "installing ${missing[*]} (apt-get, no recommends)"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}" >/tmp/tsmpi-infra-apt.log 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    # Package lists absent or stale (a fresh machine has none): refresh once and retry.
    infra_log "install failed (rc=$rc); running apt-get update and retrying"
    rc=0
    { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
      DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"; } >>/tmp/tsmpi-infra-apt.log 2>&1 || rc=$?
  fi
  [ $added_policy -eq 1 ] && rm -f "$policy"
  if [ $rc -ne 0 ]; then
    tail -n 20 /tmp/tsmpi-infra-apt.log >&2
    infra_die "apt-get install ${missing[*]} failed (rc=$rc); full log in /tmp/tsmpi-infra-apt.log"
  fi
}
