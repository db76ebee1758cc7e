#!/usr/bin/env bash
# Control-plane figures of two builds side by side, from one run on one machine: the build of
# git revision BASE and this checkout's build, benchmarked turn about RUNS times each, each side
# first in every other pair (the machine's noise and drift hit both alike), then the medians
# and their ratio.
#   bash bench/compare-revisions.sh BASE [RUNS]      e.g. bash bench/compare-revisions.sh main 4
# (an even RUNS: each side goes first equally often)
# Both builds run under this checkout's harness (bench/control-plane.ts) and lab script.
# BASE_NODE_ARGS / HEAD_NODE_ARGS: node's own flags for each side's plugins (BENCH_NODE_ARGS);
# with BASE = HEAD that compares node flags on one build. BASE_PLUGIN_ENV / HEAD_PLUGIN_ENV:
# "VAR=value ..." in each side's plugin environment only (BENCH_PLUGIN_ENV), e.g. MALLOC_ARENA_MAX=2.
# Any other BENCH_* setting reaches both sides alike: BENCH_IN_FLIGHT_CURVE="32 16" adds the curve
# of calls in flight to every run, and two rows per number to the summary.
# BENCH=many-networks: bench/many-networks.ts instead (a reconcile pass and a restart with many
# networks), which takes the two builds turn about itself (the base first each time) and prints
# their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: compare-revisions.sh BASE_REVISION [RUNS]}
runs=${2:-4}
bash scripts/install-deps
out=$(mktemp -d /tmp/tso-compare.XXXXXX)
tree="$out/base"
git worktree add --detach -q "$tree" "$base"
trap 'git worktree remove --force "$tree"; rm -rf "$out"' EXIT
(cd "$tree" && npm ci --silent && npx tsc -p tsconfig.json)
npm run build --silent
if [[ ${BENCH:-control-plane} == many-networks ]]; then
    BENCH_PLUGINS="$base=$tree/dist/main.js HEAD=$PWD/dist/main.js" BENCH_RUNS=$runs npx tsx bench/many-networks.ts
    exit
fi
# A side's node flags / plugin environment: its own variable, else the shared BENCH_* one, else
# (unset) bench/control-plane.ts's defaults, the flags the service and the managed plugin use.
side_env() { # side -> VAR=value words for env
  local flags=${1^^}_NODE_ARGS penv=${1^^}_PLUGIN_ENV
  if [[ -n ${!flags+set} ]]; then echo "BENCH_NODE_ARGS=${!flags}"; elif [[ -n ${BENCH_NODE_ARGS+set} ]]; then echo "BENCH_NODE_ARGS=$BENCH_NODE_ARGS"; fi
  if [[ -n ${!penv+set} ]]; then echo "BENCH_PLUGIN_ENV=${!penv}"; elif [[ -n ${BENCH_PLUGIN_ENV+set} ]]; then echo "BENCH_PLUGIN_ENV=$BENCH_PLUGIN_ENV"; fi
}
# Which side goes first alternates (base head, head base, ...): with base always first, the
# same build against itself came out 1.14x in CPU per endpoint as an engine sends them on the
# second side (2026-11-29 21:11-21:19, docs/performance-notes.md).
for i in $(seq 1 "$runs"); do
  order="base head"
  ((i % 2)) || order="head base"
  for side in $order; do
    plugin="$PWD/dist/main.js"
    [ "$side" = base ] && plugin="$tree/dist/main.js"
    mapfile -t settings < <(side_env "$side")
    echo "run $i/$runs: $side (${settings[*]:-default node flags and environment})" >&2
    env "${settings[@]}" BENCH_PLUGIN="$plugin" BENCH_REPORT="$out/$side-$i.json" npx tsx bench/control-plane.ts >/dev/null
  done
done
npx tsx bench/compare-revisions.ts "$base" "$out"
