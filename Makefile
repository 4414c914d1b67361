# k0rdent-deploy. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       ?= bin/k0rdent
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 15s
export CHECKPOINT_DISABLE := 1
export GOFLAGS := -buildvcs=false

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

.PHONY: demo all build test unit race fuzz bench lint vet fmt-check fmt golden clean kube-bins

all: build

build: $(BIN)

$(BIN): $(GO_SRCS)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/k0rdent

## test: everything CI checks: formatting, vet, unit and integration tests, race, a bounded fuzz run.
test: fmt-check vet unit race fuzz

unit:
	$(GO) test -count=1 -cover ./...

race:
	$(GO) test -count=1 -race ./workflow/... ./state/...

# go test fuzzes one target per invocation.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./state
	$(GO) test -run='^$$' -fuzz='^FuzzLegacyState$$' -fuzztime=$(FUZZTIME) ./state
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./config

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

## kube-bins: build kube-apiserver and etcd from the Go module proxy, once, into
## $K0RDENT_KUBE_BINS or ~/.cache/k0rdent-test/kube/<version> (about 3 minutes;
## later runs reuse them). Tests that need a Kubernetes API skip without them.
kube-bins:
	hack/kube-bins/build.sh

## golden: regenerate golden files after an intended output change; review the diff.
golden:
	$(GO) test ./... -run 'Golden' -update

clean:
	rm -rf bin
