#!/usr/bin/env bash
# What a plugin's threads spend their CPU on through one control-plane run: its main thread
# (the event loop), V8's threads beside it (the optimizing compiler, the garbage collector, the
# kernel's work for them) and the `ip`/`bridge` processes it started. The control-plane report
# gives the helper threads' CPU as one figure; this takes it apart, from perf samples of the
# plugin process and its children.
#
#   bash bench/helper-threads.sh [HOST]    # HOST 1 or 2 (default 2: host 1's plugin is
#                                          # killed midway, and perf follows only the first)
#
# Needs root and perf (Debian: apt-get install linux-perf). Uses the lab `cpx` (TSO_LAB) and
# writes perf's data to $BENCH_PERF_DATA (default /tmp/ts-overlay-helper-threads.data);
# BENCH_PERF_REUSE=1 sums up that data again without a run.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-2}
data=${BENCH_PERF_DATA:-/tmp/ts-overlay-helper-threads.data}
lab=${TSO_LAB:-cpx}
command -v perf >/dev/null || { echo "helper-threads: perf is missing (apt-get install linux-perf)" >&2; exit 1; }

if [[ ${BENCH_PERF_REUSE:-0} == 1 ]]; then
    pid=$(<"$data.pid") # the last run's data, summed up again
else
    TSO_LAB=$lab BENCH_REPORT=${BENCH_REPORT:-/tmp/ts-overlay-helper-threads.json} npx tsx bench/control-plane.ts >/tmp/ts-overlay-helper-threads.log 2>&1 &
    bench=$!
    pid=
    for _ in $(seq 1 600); do
        pid=$(pgrep -f -- "/ts-overlay-lab/$lab/.* --node-name h$host( |$)" | head -1 || true)
        [[ -n $pid ]] && break
        sleep 0.1
    done
    if [[ -z $pid ]]; then
        kill "$bench" 2>/dev/null || true
        echo "helper-threads: host $host's plugin did not start (see /tmp/ts-overlay-helper-threads.log)" >&2
        exit 1
    fi
    echo "$pid" >"$data.pid"
    # Until the plugin exits (the benchmark stops it at its end); children (ip, bridge) inherit
    # the recording.
    perf record -q -F 499 -g -p "$pid" -o "$data" >/dev/null 2>&1 || true
    wait "$bench"
fi

# perf's "pid" key is the thread: the main thread's id is the process's. Shares are of sample
# counts (perf rounds the tiny entries' percentages to nothing).
perf report -i "$data" --no-children --sort pid,sym --stdio -g none -n 2>/dev/null |
    awk -v main="$pid" -v host="$host" '
        /^#/ || NF < 4 { next }
        {
            n = $2
            split($3, t, ":"); tid = t[1]; comm = t[2]
            if (tid == main) who = "main thread"
            else if (comm == "node") who = "V8 threads"
            else who = comm " processes"
            if ($0 ~ /\[k\]/) kind = "kernel"
            else if ($0 ~ /compiler::|Compil|Pipeline|Maglev/) kind = "compiling"
            else if ($0 ~ /Mark|Sweep|Scaveng|Heap|Evacuat|FreeList|MemoryChunk|RememberedSet|SlotSet/) kind = "garbage collection"
            else kind = "other"
            by[who] += n; byKind[who "\t" kind] += n; total += n
        }
        END {
            printf "host %s plugin (pid %s): %d samples at 499 Hz, shares of them\n\n", host, main, total
            printf "| thread | share | of which |\n|---|---|---|\n"
            for (w in by) {
                detail = ""
                for (k in byKind) {
                    split(k, p, "\t")
                    if (p[1] == w && byKind[k] / total >= 0.005) detail = detail sprintf("%s%s %.1f %%", detail == "" ? "" : ", ", p[2], 100 * byKind[k] / total)
                }
                printf "| %s | %.1f %% | %s |\n", w, 100 * by[w] / total, detail
            }
        }'
