#!/usr/bin/env bash
# Where a plugin's start goes before its first line of its own, as wall time: a bare node;
# `ts-overlay --version` (main.js alone: a command's modules load only when it runs); importing
# dist/app.js (every module the plugin runs, nothing started; serve loads it once its socket
# listens, see src/protocol/plugin-socket.ts); and importing
# each heavy dependency alone in a fresh node. RUNS (default 5) of each, median in
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
printf '| node dist/main.js --version | %s |\n' "$(median_ms node dist/main.js --version)"
printf '| import dist/app.js | %s |\n' "$(median_ms node --input-type=module -e "await import('./dist/app.js')")"
for m in etcd3 fastify execa pino @sinclair/typebox/compiler; do
    printf '| import %s | %s |\n' "$m" "$(median_ms node --input-type=module -e "await import('$m')")"
done
