#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into a cache
# directory, once; later runs find them there and do nothing. The tests that
# need a real Kubernetes API (providers/kube, phases, the issue-6 e2e test)
# look for the binaries in $K0RDENT_KUBE_BINS or in this cache directory and
# skip with a reason when they are absent.
#
# Usage: hack/kube-bins/build.sh [DIR]
#   DIR defaults to $K0RDENT_KUBE_BINS, else
#   $HOME/.cache/k0rdent-test/kube/v$KUBE_VERSION-etcd$ETCD_VERSION.
#
# The wrapper modules beside this script (kube-apiserver/, etcd/) pin the
# versions and carry go.sum, so the build needs only the module proxy.
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging
# modules with local paths); the wrapper maps each one to its published
# version (../shared/reference/real-components-here.md §4). Without the -X
# version flags the apiserver reports v0.0.0-master and clients refuse it.
# The kube-apiserver build takes about 3 minutes on 2 cores.
set -euo pipefail

KUBE_VERSION=1.33.4
ETCD_VERSION=3.7.3
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${K0RDENT_KUBE_BINS:-$HOME/.cache/k0rdent-test/kube/v$KUBE_VERSION-etcd$ETCD_VERSION}}
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-local}

mkdir -p "$dir"
if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; then
  echo "kube-bins: cached in $dir" >&2
  exit 0
fi
# One build at a time per directory: a second caller waits, then finds
# the binaries.
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then
  flock 9
fi

if [ ! -x "$dir/etcd" ]; then
  echo "kube-bins: building etcd v$ETCD_VERSION into $dir" >&2
  (cd "$here/etcd" && go build -trimpath -ldflags='-s -w' -o "$dir/etcd.tmp.$$" go.etcd.io/etcd/server/v3)
  mv "$dir/etcd.tmp.$$" "$dir/etcd"
fi

if [ ! -x "$dir/kube-apiserver" ]; then
  echo "kube-bins: building kube-apiserver v$KUBE_VERSION into $dir (about 3 minutes)" >&2
  v=k8s.io/component-base/version
  minor=${KUBE_VERSION#*.}
  minor=${minor%%.*}
  (cd "$here/kube-apiserver" && go build -trimpath \
    -ldflags="-s -w -X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=${KUBE_VERSION%%.*} -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    -o "$dir/kube-apiserver.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$dir/kube-apiserver.tmp.$$" "$dir/kube-apiserver"
fi
"$dir/kube-apiserver" --version >&2
"$dir/etcd" --version | head -1 >&2
