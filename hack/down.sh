#!/usr/bin/env bash
# Stops the podd that hack/up.sh started; pods keep running until removed.
set -euo pipefail
pkill -TERM -x podd && echo "podd stopped" || echo "podd was not running"
