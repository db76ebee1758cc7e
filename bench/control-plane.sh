#!/usr/bin/env bash
# Control plane at scale: BENCH_ENDPOINTS (default 2000) endpoints through the plugin API, and
# a restart with many endpoints. Uses its own lab (TSO_LAB=cp), which it takes down again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps
npx tsx bench/control-plane.ts
