#!/usr/bin/env bash
# Brings podd up on this host and runs the example pod. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "podd drives containerd and needs root: run as root" >&2; exit 1; }
export PODD_SOCKET=/run/podd/podd.sock
podctl=bin/podctl

# containerd: systemd starts it where there is systemd; elsewhere nothing does, so we do.
if ! ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    systemctl start containerd
  else
    echo "starting containerd (log: /var/log/containerd.log)"
    setsid nohup containerd >/var/log/containerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr version >/dev/null || { echo "containerd did not come up; see /var/log/containerd.log" >&2; exit 1; }
fi

if ! $podctl version >/dev/null 2>&1; then
  echo "starting podd (log: /var/log/podd.log)"
  setsid nohup bin/podd >/var/log/podd.log 2>&1 </dev/null &
  echo $! > /run/podd-up.pid
  for _ in $(seq 50); do $podctl version >/dev/null 2>&1 && break; sleep 0.2; done
  $podctl version >/dev/null || { echo "podd did not come up; see /var/log/podd.log" >&2; exit 1; }
fi

$podctl image import bin/busybox-image.tar
$podctl rm --force web >/dev/null 2>&1 || true
$podctl run specs/examples/web.yaml
$podctl get
echo
echo "The page, fetched by the writer container from the web container over localhost:"
$podctl exec web -c writer -- wget -qO- http://127.0.0.1:8080/
echo
echo "Try: $podctl describe web; $podctl logs web -c writer; $podctl rm web"
