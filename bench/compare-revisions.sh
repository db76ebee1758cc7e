#!/usr/bin/env bash
# Control-plane figures of two builds side by side, from one run on one machine: the build of
# git revision BASE and this checkout's build, benchmarked turn about RUNS times each (the
# machine's noise hits both alike), then the medians and their ratio.
#   bash bench/compare-revisions.sh BASE [RUNS]      e.g. bash bench/compare-revisions.sh main 3
# Both builds run under this checkout's harness (bench/control-plane.ts) and lab script.
# BASE_NODE_ARGS / HEAD_NODE_ARGS: node's own flags for each side's plugins (BENCH_NODE_ARGS);
# with BASE = HEAD that compares node flags on one build.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: compare-revisions.sh BASE_REVISION [RUNS]}
runs=${2:-3}
bash scripts/install-deps
out=$(mktemp -d /tmp/tso-compare.XXXXXX)
tree="$out/base"
git worktree add --detach -q "$tree" "$base"
trap 'git worktree remove --force "$tree"; rm -rf "$out"' EXIT
(cd "$tree" && npm ci --silent && npx tsc -p tsconfig.json)
npm run build --silent
for i in $(seq 1 "$runs"); do
  for side in base head; do
    plugin="$PWD/dist/main.js" node_args=${HEAD_NODE_ARGS-${BENCH_NODE_ARGS-}}
    [ "$side" = base ] && plugin="$tree/dist/main.js" node_args=${BASE_NODE_ARGS-${BENCH_NODE_ARGS-}}
    echo "run $i/$runs: $side (node flags: ${node_args:-none})" >&2
    BENCH_NODE_ARGS="$node_args" BENCH_PLUGIN="$plugin" BENCH_REPORT="$out/$side-$i.json" npx tsx bench/control-plane.ts >/dev/null
  done
done
npx tsx bench/compare-revisions.ts "$base" "$out"
