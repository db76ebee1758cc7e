#!/usr/bin/env bash
# Where a plugin's start goes before its first line of its own: wall time of a bare node, of
# importing the serve command's module (every module the plugin runs loaded, nothing started;
# `ts-overlay --version` loads none of them), and of
# importing each heavy dependency alone in a fresh node. RUNS (default 5) of each, median in
# milliseconds. A restart of the plugin pays the import line before it reads etcd
# (bench/control-plane.ts measures the whole restart).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps >/dev/null
runs=${RUNS:-5}
median_ms() { # command... -> median wall time in ms of RUNS runs
    local -a t=()
    for _ in $(seq "$runs"); do
        local s e
        s=$(date +%s%N)
        "$@" >/dev/null
        e=$(date +%s%N)
        t+=($(((e - s) / 1000000)))
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}
printf '| what | median of %s (ms) |\n|---|---|\n' "$runs"
printf '| node -e 0 | %s |\n' "$(median_ms node -e 0)"
printf '| import dist/cli/serve.js | %s |\n' "$(median_ms node --input-type=module -e "await import('./dist/cli/serve.js')")"
for m in etcd3 fastify execa pino @sinclair/typebox/compiler ip-address; do
    printf '| import %s | %s |\n' "$m" "$(median_ms node --input-type=module -e "await import('$m')")"
done
