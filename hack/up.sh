#!/usr/bin/env bash
# Brings podd up on this host and runs the example pod. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "podd drives containerd and needs root: run as root" >&2; exit 1; }
export PODD_SOCKET=/run/podd/podd.sock
podctl=bin/podctl

. hack/lib.sh
ensure_containerd

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
