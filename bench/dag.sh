#!/usr/bin/env bash
# The command-DAG benchmark: k0rdent, go-task and xargs -P4 side by side.
#
#   bench/dag.sh [PAIRS]        (default 10; run from the repository root or bench/)
#
# For a layered DAG of command phases (/bin/true; 20 layers of 10 nodes, two
# random dependencies each; then 200 layers of 10: 2,000 nodes), run with
# parallelism 4 by
#   k0rdent   the real binary, every transition journalled durably (run file
#             with one write + fsync per batch, runtime.yaml) in a fresh
#             state directory; the built-in phases are left out with --skip
#   go-task   `task -C 4` (installed by this script with go install)
#   xargs     `xargs -P4` spawning the same processes: the floor
# alternating (the order rotates every round), PAIRS rounds, whole process
# wall time, and prints the medians and the ratios. The work directory must
# be on a real disk (ext4), not tmpfs: BENCH_DIR, default /var/tmp.
set -euo pipefail
export CHECKPOINT_DISABLE=1 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
PAIRS=${1:-10}
TASK_VERSION=v3.54.0 # served by the module proxy (see go-partial.tsv)
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BENCH_DIR:-/var/tmp}
fstype=$(findmnt -n -o FSTYPE -T "$base" 2>/dev/null || stat -f -c %T "$base")
if [ "$fstype" = tmpfs ]; then
	echo "bench/dag.sh: $base is tmpfs; set BENCH_DIR to a directory on a real disk (ext4)" >&2
	exit 2
fi
W=$(mktemp -d "$base/k0rdent-dag-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin"
(cd "$root" && go build -o "$W/bin/k0rdent" ./cmd/k0rdent)
if ! GOBIN="$W/bin" go install "github.com/go-task/task/v3/cmd/task@$TASK_VERSION" 2>"$W/task-install.log"; then
	cat "$W/task-install.log" >&2
	exit 1
fi
k0rdent=$W/bin/k0rdent task=$W/bin/task
skip=wireguard,terraform,vpn,k0s,k0rdent

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

run1() { # system dir -> nanoseconds
	local sys=$1 dir=$2 t0 t1
	case $sys in
	k0rdent)
		rm -rf "$dir/state"
		sync
		t0=$(now)
		(cd "$dir" && "$k0rdent" run --skip "$skip" --parallelism 4 >"$W/out" 2>&1) || { cat "$W/out" >&2; exit 1; }
		t1=$(now) ;;
	task)
		t0=$(now)
		(cd "$dir" && "$task" -C 4 --silent default >"$W/out" 2>&1) || { cat "$W/out" >&2; exit 1; }
		t1=$(now) ;;
	xargs)
		t0=$(now)
		xargs -P4 -n1 /bin/true <"$dir/xargs.txt" >"$W/out" 2>&1 || { cat "$W/out" >&2; exit 1; }
		t1=$(now) ;;
	esac
	echo $((t1 - t0))
}

echo "k0rdent $("$k0rdent" version | head -1); go-task $("$task" --version); $(nproc) cores; $base is $fstype; $PAIRS rounds, order rotating"
printf '%-6s %12s %12s %12s %14s %14s\n' nodes k0rdent_ms task_ms xargs_ms k0rdent/xargs k0rdent/task
for spec in "20 10" "200 10"; do
	set -- $spec
	n=$(($1 * $2))
	dir=$W/dag-$n
	python3 "$root/bench/gendag.py" "$dir" "$1" "$2" 1
	: >"$W/k0rdent.$n" ; : >"$W/task.$n"; : >"$W/xargs.$n"
	run1 k0rdent "$dir" >/dev/null # warm the page cache once
	order=(k0rdent task xargs)
	for ((i = 0; i < PAIRS; i++)); do
		for ((j = 0; j < 3; j++)); do
			sys=${order[$(((i + j) % 3))]}
			run1 "$sys" "$dir" >>"$W/$sys.$n"
		done
	done
	k=$(median <"$W/k0rdent.$n") t=$(median <"$W/task.$n") x=$(median <"$W/xargs.$n")
	awk -v n=$n -v k=$k -v t=$t -v x=$x 'BEGIN {printf "%-6d %12.1f %12.1f %12.1f %13.2fx %13.2fx\n", n, k/1e6, t/1e6, x/1e6, k/x, k/t}'
done
