#!/usr/bin/env bash
# test/infra/mpich.sh — makes MPICH's Hydra launcher (mpiexec.hydra) available for tsmpi's PMI tests by
# installing Debian's mpich when it is missing. Prints the launcher's path.
#
# --no-install-recommends matters: the recommended libmpich-dev drags in gfortran and autotools (about
# 171 MB installed instead of 55 MB). mpich depends on libslurm38 (Hydra's Slurm launcher support), which is
# the same Slurm release as slurm-wlm's and does not conflict with the daemons of test/infra/slurm.sh.
set -euo pipefail

INFRA_NAME=mpich
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v mpiexec.hydra >/dev/null 2>&1 || ! infra_packages_installed mpich; then
  infra_require_root
  # Serialise concurrent installs from test files running in parallel (apt's own lock would make the
  # second one fail instead of wait for the first).
  exec 9>/run/tsmpi-mpich.lock
  flock -w 300 9 || infra_die "another install held /run/tsmpi-mpich.lock for 300 s"
  infra_apt_install mpich
fi
command -v mpiexec.hydra || infra_die "mpich is installed but mpiexec.hydra is not on PATH"
