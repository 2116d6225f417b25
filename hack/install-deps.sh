#!/usr/bin/env bash
# Installs from Debian what podd and its tests need and this machine lacks.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
# The tests and the example image copy /bin/busybox into images: it must be the static build.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# The systemd tests use systemd-socket-activate and systemd-analyze (no running systemd needed).
command -v systemd-socket-activate >/dev/null || need+=(systemd)
# Pod networking: CNI's bridge, host-local, portmap and firewall plugins (in /usr/lib/cni), which
# program iptables.
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
# The ambassador helper's tests run real servers and nutcracker (twemproxy) to compare with;
# make bench runs redis-benchmark (redis-tools).
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v memcached >/dev/null || need+=(memcached)
command -v nutcracker >/dev/null || need+=(nutcracker)
# The log saver's tests ship to a real rsyslogd.
command -v rsyslogd >/dev/null || need+=(rsyslog)
# The adapter helper's tests scrape it with a real prometheus.
command -v prometheus >/dev/null || need+=(prometheus)
# The elector's etcd backend is tested (and benched) against a real 3-member etcd cluster.
command -v etcd >/dev/null || need+=(etcd-server)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "podd needs: ${need[*]} — run as root (or install them with apt-get)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
