#!/usr/bin/env bash
# What one command costs a new iproute2 process in a namespace full of interfaces. iproute2 6.1
# lists every link of the namespace (its name cache) before the first `neigh` command a process
# of `ip` runs, and before the first `fdb` command of `bridge`; `link` commands list nothing.
# The listing holds the kernel's rtnl lock a chunk at a time, so every other change to any
# interface on the machine waits between chunks. This is why the plugin's neighbour entries go
# through an `ip` session of their own (src/dataplane/runner.ts): the one that makes Join's
# interfaces never starts with that listing.
#   bash bench/neighbour-dump.sh [N ...]      (default: 0 1000 4000)
# For each N: a throwaway namespace with a VXLAN device and N macvlans on it; then, 7 times each,
# a new `ip -batch` / `bridge -batch` process running one line; the median in ms (process start
# included, which is the N = 0 row). No traffic leaves the namespace. Needs root.
set -euo pipefail
if [ $# -gt 0 ]; then counts=("$@"); else counts=(0 1000 4000); fi
for n in "${counts[@]}"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "neighbour-dump.sh: N must be a number of interfaces, got '$n'" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "neighbour-dump.sh: needs root (it makes a network namespace)" >&2; exit 2; }
ns="tso-bench-nd-$$"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT

# Median of the numbers on stdin.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# us that one new process takes for one line: tool, line. A line the tool refuses ends the run.
one_line_us() {
  local start end
  start=$(date +%s%N)
  if ! echo "$2" | "$1" -n "$ns" -force -batch - >/dev/null; then
    echo "neighbour-dump.sh: $1 refused: $2" >&2
    return 1
  fi
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}

printf '| interfaces in the namespace | `ip` link add | `ip` neigh replace | `bridge` fdb replace |\n|---|---|---|---|\n'
for n in "${counts[@]}"; do
  ip netns add "$ns"
  ip -n "$ns" link add tsvx-9 type vxlan id 9 dstport 4789 nolearning proxy
  ip -n "$ns" link set tsvx-9 up
  for ((i = 0; i < n; i++)); do echo "link add tsc-$i link tsvx-9 type macvlan mode bridge"; done | ip -n "$ns" -batch -
  link=() neigh=() fdb=()
  for k in 1 2 3 4 5 6 7; do
    link+=("$(one_line_us ip "link add tsc-x$k link tsvx-9 type macvlan mode bridge")")
    neigh+=("$(one_line_us ip "neigh replace 10.9.0.$k lladdr 02:42:0a:09:00:0$k dev tsvx-9 nud permanent")")
    fdb+=("$(one_line_us bridge "fdb replace 02:42:0a:09:00:0$k dev tsvx-9 dst 198.18.9.$k self permanent")")
  done
  ms() { printf '%s\n' "$@" | median | awk '{printf "%.1f", $1 / 1000}'; }
  printf '| %d | %s ms | %s ms | %s ms |\n' "$n" "$(ms "${link[@]}")" "$(ms "${neigh[@]}")" "$(ms "${fdb[@]}")"
  ip netns del "$ns"
done
