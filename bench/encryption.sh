#!/usr/bin/env bash
# Throughput cost of -o encrypted: iperf3 between containers on two lab hosts, over an encrypted
# and a plain ts-overlay network, interleaved in one run. Uses its own lab (TSO_LAB=encbench,
# or BENCH_LAB), which it brings up and takes down again. BENCH_RUNS (default 3) rounds of
# BENCH_SECONDS (default 5) per network. Writes bench/results/encryption.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps >/dev/null
export TSO_LAB=${BENCH_LAB:-encbench}
bash scripts/lab up --hosts 2 >/dev/null
trap 'bash scripts/lab down >/dev/null' EXIT
npx tsx bench/encryption.ts
