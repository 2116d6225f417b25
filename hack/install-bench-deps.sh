#!/usr/bin/env bash
# Installs from Debian what `make bench` needs beyond podd's own dependencies (hack/install-deps.sh):
# podman, the peer the bench compares podd with. Not used by `make test`.
set -euo pipefail
need=()
command -v podman >/dev/null || need+=(podman)
# podman builds its pause (infra) image locally from catatonit when no registry is reachable.
dpkg -s catatonit >/dev/null 2>&1 || need+=(catatonit)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "make bench needs: ${need[*]} — run as root (or install them with apt-get)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
