#!/usr/bin/env bash
# The adapter in front of a redis-server, a memcached, a JSON endpoint (busybox httpd serving
# stats.json) and statsd, all on loopback: it prints /readyz and the app_* metrics, the same names
# for each kind. Needs the Debian packages redis-server, memcached, busybox-static and curl; run
# from the repository's root.
set -euo pipefail
ex=specs/examples/adapter
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
redis-server --port 26379 --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" & pids+=($!)
memcached -p 31211 -l 127.0.0.1 -U 0 $( [ "$(id -u)" = 0 ] && echo -u nobody ) & pids+=($!)
mkdir "$dir/www" && cp "$ex/stats.json" "$dir/www/"
busybox httpd -f -p 127.0.0.1:28080 -h "$dir/www" & pids+=($!)
go build -o "$dir/podd-patterns" ./cmd/podd-patterns
"$dir/podd-patterns" adapter --listen 127.0.0.1:29466 --rules "$ex/rules.yaml" \
  --source cache=redis://127.0.0.1:26379 --source sessions=memcached://127.0.0.1:31211 \
  --source http://127.0.0.1:28080/stats.json --source statsd://127.0.0.1:29125 >"$dir/adapter.log" & pids+=($!)
for _ in $(seq 100); do curl -sf 127.0.0.1:29466/readyz >/dev/null && break; sleep 0.1; done
printf 'shop.eu.clients:3|g\ncheckout.time:120|ms|#route:pay\n' >/dev/udp/127.0.0.1/29125
sleep 0.2
echo "readyz: $(curl -s 127.0.0.1:29466/readyz)"
curl -s 127.0.0.1:29466/metrics | grep -E '^app_(up|connected_clients|commands_processed_total|items|queue_length|checkout_time_seconds_count)[{ ]'
