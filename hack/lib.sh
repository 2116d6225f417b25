# Shared by hack/up.sh and hack/multinode.sh (source it).

# ensure_containerd starts containerd unless it answers: systemd starts it where there is
# systemd; elsewhere nothing does, so we do.
ensure_containerd() {
  if ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
    return
  fi
  if [ -d /run/systemd/system ]; then
    systemctl start containerd
  else
    echo "starting containerd (log: /var/log/containerd.log)"
    setsid nohup containerd >/var/log/containerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr version >/dev/null || { echo "containerd did not come up; see /var/log/containerd.log" >&2; exit 1; }
}
