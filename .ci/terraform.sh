# shellcheck shell=bash
# Sourced by .ci/run. The tests run the real terraform binary (offline, with
# a test provider from a filesystem mirror). A fresh machine may have none:
# Debian does not package it and releases.hashicorp.com may be unreachable,
# so ensure_terraform builds it from the Go module proxy, once, into a cache.
#
# `go install github.com/hashicorp/terraform@vX` refuses terraform's go.mod
# (it has replace directives), so a wrapper module requires it and maps the
# nine internal/... replace targets to the pseudo-versions the proxy serves
# for the release commit (../shared/reference/real-components-here.md §2).

K0RDENT_CI_TERRAFORM_VERSION=${K0RDENT_CI_TERRAFORM_VERSION:-1.11.4}
# The release commit of v1.11.4, as pseudo-versions of its nested modules.
K0RDENT_CI_TERRAFORM_PSEUDO=${K0RDENT_CI_TERRAFORM_PSEUDO:-v0.0.0-20250409131005-35645b8fca68}

# terraform_wrapper_module DIR: write the wrapper module into DIR.
terraform_wrapper_module() {
  local dir=$1 m
  mkdir -p "$dir"
  {
    echo "module k0rdent.local/tfbuild"
    echo
    echo "go 1.26.0"
    echo
    echo "require github.com/hashicorp/terraform v$K0RDENT_CI_TERRAFORM_VERSION"
    echo
    for m in legacy backend/remote-state/azure backend/remote-state/consul backend/remote-state/cos \
      backend/remote-state/gcs backend/remote-state/kubernetes backend/remote-state/oss \
      backend/remote-state/pg backend/remote-state/s3; do
      echo "replace github.com/hashicorp/terraform/internal/$m => github.com/hashicorp/terraform/internal/$m $K0RDENT_CI_TERRAFORM_PSEUDO"
    done
  } >"$dir/go.mod"
  # Keeps the requirement through go mod tidy (the classic tools.go).
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/hashicorp/terraform"\n' >"$dir/tools.go"
}

# ensure_terraform: put a terraform on PATH, building it when there is none.
# The build (about 2.5 minutes on 2 cores) is cached in
# ${K0RDENT_CI_CACHE:-$HOME/.cache/k0rdent-ci}/bin and reused.
ensure_terraform() {
  if command -v terraform >/dev/null; then
    return 0
  fi
  local cache=${K0RDENT_CI_CACHE:-$HOME/.cache/k0rdent-ci}
  local bin=$cache/bin/terraform
  if [ ! -x "$bin" ]; then
    echo "terraform not found: building v$K0RDENT_CI_TERRAFORM_VERSION from the Go module proxy into $bin" >&2
    local tmp
    tmp=$(mktemp -d)
    terraform_wrapper_module "$tmp"
    mkdir -p "$cache/bin"
    if ! (cd "$tmp" && go mod tidy && go build -ldflags='-s -w' -o "$bin.tmp" github.com/hashicorp/terraform); then
      rm -rf "$tmp" "$bin.tmp"
      echo "building terraform failed; install terraform on PATH and run .ci/run again" >&2
      return 1
    fi
    rm -rf "$tmp"
    mv "$bin.tmp" "$bin"
  fi
  export PATH="$cache/bin:$PATH"
  terraform version >&2
}
