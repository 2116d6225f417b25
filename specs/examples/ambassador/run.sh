#!/usr/bin/env bash
# Three redis-servers and three memcacheds on loopback, the ambassador in front of them with
# pools.yml, a few requests through it, then everything stopped. Needs the Debian packages
# redis-server, redis-tools and memcached; run from the repository's root.
set -euo pipefail
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for p in 16379 16380 16381; do
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis-$p.log" & pids+=($!)
done
for p in 21211 21212 21213; do
  memcached -p "$p" -l 127.0.0.1 -U 0 $( [ "$(id -u)" = 0 ] && echo -u nobody ) & pids+=($!)
done
go build -o "$dir/podd-patterns" ./cmd/podd-patterns
"$dir/podd-patterns" ambassador --config specs/examples/ambassador/pools.yml --metrics-address 127.0.0.1:22222 >"$dir/ambassador.log" & pids+=($!)
for _ in $(seq 50); do redis-cli -p 22121 ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p 22121 mset user:1 ada user:2 brian user:3 carla
redis-cli -p 22121 mget user:1 user:2 user:3
for p in 16379 16380 16381; do echo "shard on $p holds: $(redis-cli -p "$p" --scan | tr '\n' ' ')"; done
exec 3<>/dev/tcp/127.0.0.1/22122
printf 'set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a b\r\nquit\r\n' >&3
cat <&3
curl -s 127.0.0.1:22222/metrics 2>/dev/null | grep -E '^podd_ambassador_(requests_total|server_requests_total)' || true
