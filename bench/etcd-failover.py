#!/usr/bin/env python3
# Interim, until podbench has the etcd rows: python3 bench/etcd-failover.py N TTL PATH-TO-podd-patterns
# (needs etcd on PATH; runs everything on loopback ports it picks; kills only what it started).
# Ad-hoc measurement: 3-member etcd on loopback, 3 electors (podd-patterns elector --backend etcd),
# N kill -9 of the leader's elector; failover = kill -> first GET / of another elector reporting
# isLeader with a higher token. Also counts overlapping dual-leader answers.
import subprocess, socket, json, time, os, sys, tempfile, threading, urllib.request, statistics
N = int(sys.argv[1]); TTL = sys.argv[2]; PP = sys.argv[3]
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
d = tempfile.mkdtemp(prefix="etcdbench-")
cl = ["http://127.0.0.1:%d" % port() for _ in range(3)]; pe = ["http://127.0.0.1:%d" % port() for _ in range(3)]
init = ",".join("m%d=%s" % (i, pe[i]) for i in range(3))
procs = []
for i in range(3):
    procs.append(subprocess.Popen(["etcd", "--name", "m%d" % i, "--data-dir", "%s/m%d" % (d, i), "--listen-client-urls", cl[i], "--advertise-client-urls", cl[i],
        "--listen-peer-urls", pe[i], "--initial-advertise-peer-urls", pe[i], "--initial-cluster", init, "--initial-cluster-state", "new"],
        stdout=open("%s/etcd%d.log" % (d, i), "w"), stderr=subprocess.STDOUT))
def get(url, t=0.5):
    with urllib.request.urlopen(url, timeout=t) as r: return json.loads(r.read())
for c in cl:
    while True:
        try:
            if get(c + "/health").get("health") == "true": break
        except Exception: pass
        time.sleep(0.05)
names = ["pod-a", "pod-b", "pod-c"]; ports = {n: port() for n in names}; el = {}
def start(n):
    el[n] = subprocess.Popen([PP, "elector", "--backend", "etcd", "--etcd-endpoints", ",".join(cl), "--election", "bench", "--ttl", TTL, "--name", n,
        "--listen", "127.0.0.1:%d" % ports[n]], stdout=open("%s/%s.log" % (d, n), "a"), stderr=subprocess.STDOUT)
for n in names: start(n)
last = {}; lastlead = {}; lock = threading.Lock(); dual = [0]; samples = [0]; stop = [False]
def poll(n):
    while not stop[0]:
        s = time.monotonic()
        try: st = get("http://127.0.0.1:%d/" % ports[n])
        except Exception: time.sleep(0.005); continue
        r = time.monotonic()
        with lock:
            samples[0] += 1; last[n] = (s, r, st)
            if st["isLeader"]:
                for o, (os_, or_, ost) in lastlead.items():
                    if o != n and os_ < r and s < or_: dual[0] += 1
                lastlead[n] = (s, r, st)
        time.sleep(max(0, 0.005 - (time.monotonic() - s)))
for n in names: threading.Thread(target=poll, args=(n,), daemon=True).start()
def leader():
    with lock:
        ls = [(n, v[2]["token"]) for n, v in last.items() if v[2]["isLeader"] and time.monotonic() - v[1] < 1]
        ok = len(last) == 3 and all(v[2]["leader"] == (ls[0][0] if ls else None) for v in last.values())
    return ls[0] if len(ls) == 1 and ok else None
res = []
for i in range(N):
    t0 = time.monotonic()
    while leader() is None:
        if time.monotonic() - t0 > 60: sys.exit("no single leader")
        time.sleep(0.02)
    ln, tok = leader()
    f = time.monotonic(); el[ln].kill()
    while True:
        with lock:
            hit = [v[1] for n, v in last.items() if n != ln and v[2]["isLeader"] and v[2]["token"] > tok and v[1] > f]
        if hit: break
        time.sleep(0.002)
    res.append((min(hit) - f) * 1000); el[ln].wait(); start(ln)
    with lock: last.pop(ln, None); lastlead.pop(ln, None)
    print("failover %2d %s token %d: %.1f ms" % (i + 1, ln, tok, res[-1]), flush=True)
stop[0] = True
print("ttl %s: median %.1f ms, max %.1f, min %.1f over %d kill -9; dual-leader samples %d of %d answers" % (TTL, statistics.median(res), max(res), min(res), N, dual[0], samples[0]))
for p in list(el.values()) + procs: p.kill()
