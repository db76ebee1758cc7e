#!/usr/bin/env bash
# Name propagation across hosts (bench/names.ts) in the e2e lab. Brings the lab up if it is not
# running and leaves it as it found it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps
export TSO_LAB=e2e${TSO_TEST_ID:-}
started=0
if ! bash scripts/lab docker 1 info >/dev/null 2>&1; then bash scripts/lab up --hosts 2 >/dev/null; started=1; fi
trap '[ $started = 1 ] && bash scripts/lab down >/dev/null' EXIT
npx tsx bench/names.ts
