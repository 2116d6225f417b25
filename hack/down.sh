#!/usr/bin/env bash
# Stops the podd that hack/up.sh started (and only that one); pods keep running until removed.
set -euo pipefail
pidfile=/run/podd-up.pid
if [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null; then
  rm -f "$pidfile"
  echo "podd stopped"
else
  echo "no podd started by 'make up' is running"
fi
