#!/usr/bin/env bash
# The start-up benchmark: k0rdent commands against a Go hello-world, in the
# same run, alternating.
#
#   bench/startup.sh [ROUNDS]     (default 20)
#
# Measures whole-process wall time (medians of ROUNDS alternating rounds) of
#   hello        a Go hello-world built with the same toolchain: the floor
#   version      k0rdent version
#   status       k0rdent status, on a state directory with one finished run
#   runs         k0rdent runs, over 10,000 finished runs
#   runs-20      k0rdent runs --limit 20, over the same 10,000 runs
# and checks, with strace, that none of them starts a child process and
# that `runs --limit 20` opens only 20 run files; and prints the package
# initialisation of `version` (GODEBUG=inittrace=1): the sum of the inits
# and the ten costliest packages. Goals: version < 30 ms,
# status < 50 ms, runs over 10,000 runs < 300 ms. The state lives on
# BENCH_DIR (default /var/tmp), which must be a real disk, not tmpfs.
set -euo pipefail
export CHECKPOINT_DISABLE=1 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
ROUNDS=${1:-20}
RUNS=${RUNS:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BENCH_DIR:-/var/tmp}
if [ "$(findmnt -n -o FSTYPE -T "$base" 2>/dev/null || stat -f -c %T "$base")" = tmpfs ]; then
	echo "bench/startup.sh: $base is tmpfs; set BENCH_DIR to a directory on a real disk" >&2
	exit 2
fi
W=$(mktemp -d "$base/k0rdent-startup-bench.XXXXXX")
G=$(mktemp -d "${TMPFS_DIR:-/dev/shm}/k0rdent-genruns.XXXXXX")
trap 'rm -rf "$W" "$G"' EXIT
mkdir -p "$W/bin" "$W/hello" "$W/one"
# Built as `make build` builds it: static (CGO_ENABLED=0), without symbol
# table and DWARF.
export CGO_ENABLED=${CGO_ENABLED:-0}
(cd "$root" && go build -trimpath -ldflags '-s -w' -o "$W/bin/k0rdent" ./cmd/k0rdent && go build -o "$W/bin/genruns" ./bench/genruns)
cat >"$W/hello/main.go" <<'GO'
package main

import "fmt"

func main() { fmt.Println("hello, world") }
GO
(cd "$W/hello" && go mod init hello >/dev/null 2>&1 && go build -trimpath -ldflags '-s -w' -o "$W/bin/hello" .)
k0rdent=$W/bin/k0rdent

# One finished run for status; RUNS finished runs for runs (generated on
# tmpfs, where fsync costs nothing, then copied to the disk).
printf 'azure:\n  location: westus2\nphases:\n  - name: a\n    command: [/bin/true]\n' >"$W/one/k0rdent.yaml"
(cd "$W/one" && "$k0rdent" run --skip wireguard,terraform,vpn,k0s,k0rdent >/dev/null)
"$W/bin/genruns" "$G/state" "$RUNS"
cp -r "$G/state" "$W/many"
sync

declare -A cmd=(
	[hello]="$W/bin/hello"
	[version]="$k0rdent version"
	[status]="$k0rdent --state-dir $W/one/state status"
	[runs]="$k0rdent --state-dir $W/many runs"
	[runs-20]="$k0rdent --state-dir $W/many runs --limit 20"
)
names=(hello version status runs runs-20)

for n in "${names[@]}"; do # each must work, start no child process
	${cmd[$n]} >/dev/null || { echo "$n failed: ${cmd[$n]}" >&2; exit 1; }
	if command -v strace >/dev/null; then
		children=$(strace -f -qq -e trace=execve -o /dev/stdout ${cmd[$n]} 2>/dev/null | grep -c 'execve(' || true)
		printf '%-8s child processes started: %d\n' "$n" $((children - 1))
	fi
done
if command -v strace >/dev/null; then
	opened=$(strace -f -qq -e trace=openat -o /dev/stdout ${cmd[runs-20]} 2>/dev/null | grep -cE '/runs/[0-9]{8}-[0-9]{6}-[0-9a-f]{4}\.yaml"' || true)
	echo "runs --limit 20 opened $opened of $RUNS run files"
fi

# Package initialisation before main (GODEBUG=inittrace=1 k0rdent version),
# five times: the sum of the inits' clock times, and the ten costliest
# packages by their median.
for ((i = 0; i < 5; i++)); do
	GODEBUG=inittrace=1 $k0rdent version 2>&1 >/dev/null | awk -v r=$i '$1 == "init" {print r, $2, $5, $8, $10}'
done >"$W/inittrace"
awk '{s[$1] += $3; n[$1]++} END {for (r in s) print s[r], n[r]}' "$W/inittrace" | sort -n |
	awk '{a[NR] = $1; c = $2} END {printf "package init of version: %.1f ms (median of 5; %d packages)\n", a[int((NR + 1) / 2)], c}'
awk '{print $2, $3, $4, $5}' "$W/inittrace" | sort -k1,1 -k2,2n |
	awk '{k = $1; v[k] = v[k] " " $2; b[k] = $3; al[k] = $4; n[k]++}
	END {for (k in v) {split(substr(v[k], 2), x, " "); printf "%s %s %s %s\n", x[int((n[k] + 1) / 2)], k, b[k], al[k]}}' |
	sort -rn | awk 'NR <= 10' | awk '{printf "  %6.2f ms  %9d B  %6d allocs  %s\n", $1, $3, $4, $2}'

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
for n in "${names[@]}"; do : >"$W/t.$n"; done
for ((i = 0; i < ROUNDS; i++)); do
	for ((j = 0; j < ${#names[@]}; j++)); do
		n=${names[$(((i + j) % ${#names[@]}))]}
		t0=$(now)
		${cmd[$n]} >/dev/null
		t1=$(now)
		echo $((t1 - t0)) >>"$W/t.$n"
	done
done
h=$(median <"$W/t.hello")
printf '%-8s %10s %12s\n' command median_ms above_hello
for n in "${names[@]}"; do
	m=$(median <"$W/t.$n")
	awk -v n="$n" -v m="$m" -v h="$h" 'BEGIN {printf "%-8s %10.1f %12.1f\n", n, m/1e6, (m-h)/1e6}'
done
echo "($ROUNDS rounds, alternating; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg))"
