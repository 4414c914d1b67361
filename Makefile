# k0rdent-deploy. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       ?= bin/k0rdent
# What `k0rdent version` and every run header's tool_version say: the tag or
# commit (git describe), the revision, the dirty flag and the build time. Go
# stamps the same from VCS itself (-buildvcs=auto below) in a plain clone,
# but not in a git worktree, hence the -X flags too.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
DIRTY      ?= $(shell test -z "$$(git status --porcelain 2>/dev/null)" && echo false || echo true)
BUILD_TIME ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.dirty=$(DIRTY) -X main.buildTime=$(BUILD_TIME)
FUZZTIME   ?= 15s
# Inputs a fuzz target finds are minimised for at most this long, so that the
# FUZZTIME budget is spent fuzzing (the default, 60s, ate most of it).
FUZZMINIMIZE ?= 1s
# Fuzzing workers per target; empty: go test's default (GOMAXPROCS). `make
# test` fuzzes with 1.
FUZZPARALLEL ?=
# Fuzz targets fuzzed at once. `make test` fuzzes 2 at once, one worker
# each, when the other tests are done: on this 2-core kind each then has
# a core to itself for its whole budget.
FUZZJOBS ?= 1
# The fuzzing budget per target in `make test` (`make fuzz`: FUZZTIME).
TESTFUZZTIME ?= 10s
# Tests (t.Parallel) run at once per package; go test's default is
# GOMAXPROCS, 2 here. The slow ones mostly wait (on processes, a lease, a
# WireGuard handshake, an API server), so twice as many as cores keeps the
# cores busy.
TESTPARALLEL ?= 4
# Test binaries linked and run at once by `make unit` (go test -p; the
# default is GOMAXPROCS, 2): cmd/k0rdent's end-to-end tests wait most of
# their minutes, and with 2 the other packages linked and ran one at a
# time beside them.
TESTPKGS ?= 3
# go test -json of the last `make unit`, for the skip summary.
TESTJSON   ?= bin/test.json
SHELL := /bin/bash
export CHECKPOINT_DISABLE := 1
# Tests and vet need no VCS stamp; `build` turns it back on.
export GOFLAGS := -buildvcs=false
# Static binaries, linked by Go's own linker: k0rdent needs no C library,
# and with cgo a dependency's import of `plugin` (kustomize, through Helm)
# makes every link external, about 3 times the CPU. Only `race` needs cgo.
export CGO_ENABLED ?= 0
# Test binaries are linked without symbol table and DWARF: they are linked
# afresh for every `go test` run, and most of a link is DWARF.
TESTLD      := -s -w
TESTLDFLAGS := -ldflags='$(TESTLD)'

GO_SRCS := $(shell find . -name '*.go' -not -path './bin/*' 2>/dev/null) go.mod go.sum

## demo: build, then in demo/ (a fresh state directory each time): plan the whole deployment on the
## embedded default config and run what needs no Azure account (the wireguard phase); then, in
## demo/commands/, a full run of the example command-phase graph (examples/demo/k0rdent.yaml);
## runs and status after each.
demo: build
	rm -rf demo && mkdir -p demo/commands
	cd demo && ../$(BIN) init && ../$(BIN) run --plan && ../$(BIN) run --only wireguard --yes && ../$(BIN) runs && ../$(BIN) status
	cp examples/demo/k0rdent.yaml demo/commands/
	cd demo/commands && ../../$(BIN) run --plan --only fetch,lint,render,package && ../../$(BIN) run --only fetch,lint,render,package --yes && ../../$(BIN) runs && ../../$(BIN) status

.PHONY: demo all build test unit race fuzz bench lint vet fmt-check fmt tidy-check golden clean kube-bins

all: build

build: $(BIN)

$(BIN): $(GO_SRCS)
	$(GO) build -buildvcs=auto -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/k0rdent

## test: everything CI checks: formatting, go.mod tidiness, vet, unit and integration tests (ending
## with the list of skipped tests and why), race, a bounded run of every fuzz target.
# The quick checks first; then unit and, beside it, race (unit's slow
# tests mostly wait on processes, so race uses the core they leave idle);
# each lane's output is printed whole when it ends (--output-sync). Then
# fuzzing, on an otherwise idle machine: beside the tests, fuzzing (bounded
# by time, not by work) spent most of its budget replaying its corpus.
test: fmt-check tidy-check vet
	@$(MAKE) --no-print-directory -j2 --output-sync=target unit race
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(TESTFUZZTIME) FUZZPARALLEL=1 FUZZJOBS=2

# The packages with the slowest tests first, longest first: go test starts
# packages in the order given, so these do not start last and run alone at
# the end.
SLOW_PKGS := ./cmd/k0rdent/ ./phases/ ./internal/testbed/ ./cmd/k0rdent/cli/ ./state/ ./providers/kube/ ./providers/terraform/

# go test -json through hack/testsummary: per-package lines as go test prints
# them, the output of failed tests, then every skipped test with its reason.
unit:
	@mkdir -p $(dir $(TESTJSON))
	$(GO) build -o bin/testsummary ./hack/testsummary
	set -o pipefail; $(GO) test -count=1 -cover $(TESTLDFLAGS) -p=$(TESTPKGS) -parallel=$(TESTPARALLEL) -json $(SLOW_PKGS) ./... | tee $(TESTJSON) | bin/testsummary

race:
	CGO_ENABLED=1 $(GO) test -count=1 -race $(TESTLDFLAGS) -parallel=$(TESTPARALLEL) ./workflow/... ./state/... ./deploy/...

# go test fuzzes one target per invocation: hack/fuzz.sh runs one (and
# passes over Go 1.26's late-coordinator flake, golang/go#75804), FUZZJOBS
# at once. Every fuzz target in the repository (a test checks this list
# against the Fuzz functions: hack/testsummary's
# TestMakefile_FuzzesEveryTarget).
FUZZ_TARGETS := state:FuzzDecode state:FuzzFastDecode state:FuzzLegacyState config:FuzzParse \
	phases/outputfile:FuzzParseOutputs providers/wireguard:FuzzParseWGQuick

fuzz:
	@printf '%s\n' $(FUZZ_TARGETS) | GO=$(GO) TESTLD="$(TESTLD)" FUZZTIME=$(FUZZTIME) \
		FUZZMINIMIZE=$(FUZZMINIMIZE) FUZZPARALLEL=$(FUZZPARALLEL) \
		xargs -n1 -P$(FUZZJOBS) hack/fuzz.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./workflow/... ./state/...

lint: fmt-check vet

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

# go.mod and go.sum say exactly what the code imports (direct dependencies
# not marked indirect); fix with `go mod tidy`.
tidy-check:
	$(GO) mod tidy -diff

## kube-bins: build kube-apiserver and etcd from the Go module proxy, once, into
## $K0RDENT_KUBE_BINS or ~/.cache/k0rdent-test/kube/<version> (about 3 minutes;
## later runs reuse them). Tests that need a Kubernetes API skip without them.
kube-bins:
	hack/kube-bins/build.sh

## golden: regenerate every golden file after an intended output change, then review the diff.
## Each package's -update flag defaults to on under K0RDENT_UPDATE_GOLDEN, so every test that
## writes a golden file (TestBadInput too) runs in every package, with or without such a flag.
golden:
	K0RDENT_UPDATE_GOLDEN=1 $(GO) test -count=1 ./...

clean:
	rm -rf bin
