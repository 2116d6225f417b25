#!/usr/bin/env bash
# Three podd "nodes" on this one host, sharing a 3-member etcd cluster, with one replica of the
# etcd elector example on each: how a user grows from one host to several (README, "From one
# host to several"). On real hosts each node is one podd (and one etcd member) per host; here
# each has its own --root, --state, socket, containerd namespace, cgroup parent, bridge and subnet.
#
#   hack/multinode.sh up          # start etcd and the three nodes, apply the example on each
#   hack/multinode.sh status      # each node's replica and what its elector says
#   hack/multinode.sh kill N      # node N dies (its podd, its containers, its etcd member: SIGKILL)
#   hack/multinode.sh start N     # node N comes back
#   hack/multinode.sh queue       # the etcd work queue example on each node; what each node did
#   hack/multinode.sh down        # remove the pods, stop everything this script started
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "podd drives containerd and needs root: run as root" >&2; exit 1; }
. hack/lib.sh

base=/var/lib/podd-multinode
run=/run/podd-multinode
manifest=specs/patterns/elector-multinode.yaml
queue_manifest=specs/patterns/work-queue-etcd.yaml
nodes=(0 1 2)

sock() { echo "$run/node$1/podd.sock"; }
podctl() { local n=$1; shift; bin/podctl --socket "$(sock "$n")" "$@"; }
gw() { echo "10.124.$1.1"; }
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_podd() {
  local n=$1
  mkdir -p "$run/node$n" "$base/node$n"
  running "$run/node$n/podd.pid" && return
  echo "node $n: starting podd (log: $base/node$n/podd.log)"
  setsid nohup bin/podd --namespace "podd-node$n" --root "$base/node$n/root" --state "$run/node$n/state" \
    --socket "$(sock "$n")" --bridge "podd-n$n" --pod-cidr "10.124.$n.0/24" --cgroup-root "podd-node$n" \
    >>"$base/node$n/podd.log" 2>&1 </dev/null &
  echo $! >"$run/node$n/podd.pid"
  for _ in $(seq 50); do podctl "$n" version >/dev/null 2>&1 && return; sleep 0.2; done
  echo "node $n: podd did not come up; see $base/node$n/podd.log" >&2
  exit 1
}

start_etcd() {
  local n=$1 cluster="n0=http://127.0.0.1:2380,n1=http://127.0.0.1:2381,n2=http://127.0.0.1:2382"
  running "$run/node$n/etcd.pid" && return
  echo "node $n: starting etcd member n$n (clients on $(gw "$n"):2379 and 127.0.0.1:2379$n; log: $base/node$n/etcd.log)"
  setsid nohup etcd --name "n$n" --data-dir "$base/node$n/etcd" \
    --listen-peer-urls "http://127.0.0.1:238$n" --initial-advertise-peer-urls "http://127.0.0.1:238$n" \
    --listen-client-urls "http://$(gw "$n"):2379,http://127.0.0.1:2379$n" --advertise-client-urls "http://$(gw "$n"):2379" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token podd-multinode \
    >>"$base/node$n/etcd.log" 2>&1 </dev/null &
  echo $! >"$run/node$n/etcd.pid"
}

# The node's bridge (and the gateway address its etcd member listens on) comes with its first pod.
warm() {
  local n=$1
  if ! podctl "$n" get warm >/dev/null 2>&1; then
    podctl "$n" run - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: warm}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: localhost/podd/busybox:1.35, command: [sleep, "1000000"]}
YAML
  fi
  for _ in $(seq 100); do ip -4 addr show "podd-n$n" 2>/dev/null | grep -q "$(gw "$n")/" && return; sleep 0.1; done
  echo "node $n: no address $(gw "$n") on podd-n$n" >&2
  exit 1
}

elector() { # node: the replica's name and its elector's answer
  local n=$1 pod
  pod=$(podctl "$n" get pods -l app=multinode 2>/dev/null | awk 'NR == 2 {print $1}')
  if [ -z "$pod" ]; then echo "node $n: no replica"; return; fi
  printf 'node %s: %-32s ' "$n" "$pod"
  podctl "$n" exec "$pod" -c app -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 4040 | tail -n 1" 2>/dev/null || echo "(not answering)"
}

queue_status() { # node: its Job's status and the items its helpers committed
  local n=$1 pod committed=0 c
  for pod in $(podctl "$n" get pods -l app=wq-etcd-demo 2>/dev/null | awk 'NR > 1 {print $1}'); do
    c=$(podctl "$n" logs "$pod" -c podd-workqueue 2>/dev/null | grep -c '"msg":"committed"' || true)
    committed=$((committed + c))
  done
  printf 'node %s: job %s; items committed on this node: %s\n' "$n" \
    "$(podctl "$n" get job wq-etcd-demo 2>/dev/null | awk 'NR == 2 {print $2, $3, $4, $5}')" "$committed"
}

case "${1:-up}" in
up)
  ensure_containerd
  for n in "${nodes[@]}"; do
    start_podd "$n"
    podctl "$n" image import bin/busybox-image.tar >/dev/null
    warm "$n"
  done
  for n in "${nodes[@]}"; do start_etcd "$n"; done
  for n in "${nodes[@]}"; do podctl "$n" apply -f "$manifest"; done
  echo "waiting for the three replicas and one leader..."
  for _ in $(seq 120); do
    [ "$("$0" status 2>/dev/null | grep -c '"isLeader":true')" = 1 ] && break
    sleep 1
  done
  "$0" status
  echo
  echo "Try: $0 kill N (N = the leader's node), then $0 status; $0 start N; $0 down"
  ;;
status)
  for n in "${nodes[@]}"; do
    if running "$run/node$n/podd.pid"; then elector "$n"; else echo "node $n: down"; fi
  done
  ;;
queue)
  for n in "${nodes[@]}"; do
    if running "$run/node$n/podd.pid"; then podctl "$n" apply -f "$queue_manifest"; fi
  done
  echo "waiting for the queue's Jobs to complete (12 items of 2 s, two workers per node)..."
  for _ in $(seq 180); do
    done_all=1
    for n in "${nodes[@]}"; do
      running "$run/node$n/podd.pid" || continue
      podctl "$n" get job wq-etcd-demo 2>/dev/null | awk 'NR == 2' | grep -q Complete || done_all=0
    done
    [ "$done_all" = 1 ] && break
    sleep 1
  done
  for n in "${nodes[@]}"; do
    if running "$run/node$n/podd.pid"; then queue_status "$n"; else echo "node $n: down"; fi
  done
  echo "Each item is committed once across the nodes (12 in all). Run it again: delete the Jobs, and the"
  echo "queue's keys (etcdctl, Debian's etcd-client: del --prefix /podd/queues/wq-etcd-demo/), or rename the queue."
  ;;
kill)
  n=${2:?which node: 0, 1 or 2}
  kill -KILL "$(cat "$run/node$n/podd.pid")" 2>/dev/null || true
  for id in $(ctr -n "podd-node$n" tasks list -q 2>/dev/null); do ctr -n "podd-node$n" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  kill -KILL "$(cat "$run/node$n/etcd.pid")" 2>/dev/null || true
  echo "node $n killed: its podd, its containers and its etcd member; another node's replica leads within about one ttl (2 s)"
  ;;
start)
  n=${2:?which node: 0, 1 or 2}
  start_etcd "$n"
  start_podd "$n"
  ;;
down)
  for n in "${nodes[@]}"; do
    if running "$run/node$n/podd.pid"; then
      podctl "$n" delete -f "$manifest" >/dev/null 2>&1 || true
      podctl "$n" delete -f "$queue_manifest" >/dev/null 2>&1 || true
      podctl "$n" rm --force warm >/dev/null 2>&1 || true
      for _ in $(seq 100); do [ "$(podctl "$n" get pods 2>/dev/null | wc -l)" -le 1 ] && break; sleep 0.2; done
      kill -TERM "$(cat "$run/node$n/podd.pid")"
    fi
    if running "$run/node$n/etcd.pid"; then kill -TERM "$(cat "$run/node$n/etcd.pid")"; fi
    rm -f "$run/node$n/podd.pid" "$run/node$n/etcd.pid"
  done
  sleep 1
  for n in "${nodes[@]}"; do ip link del "podd-n$n" 2>/dev/null || true; done
  rm -rf "$base"/node*/etcd
  echo "stopped; logs stay in $base"
  ;;
*)
  sed -n '2,12p' "$0" >&2
  exit 2
  ;;
esac
