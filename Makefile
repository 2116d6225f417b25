# podd — run Kubernetes Pods on one host with containerd.
#   make up     install what is missing, start containerd and podd, run the example pod (root)
#   make test   install what is missing, run unit and integration tests (root for integration)
#   make bench  podd against podman and the containerd floor on this machine (root; BENCH_OUT=file.json)

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin
LDFLAGS := -X github.com/podd-dev/podd/pkg/api.Version=$(VERSION)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build deps test unit integration up down example-image fmt vet clean bench bench-deps bench-go

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/podd ./cmd/podctl

# Debian packages podd needs at run time (and the tests' busybox).
deps:
	./hack/install-deps.sh

unit:
	$(GO) test ./pkg/... ./internal/... ./cmd/...

integration: deps
	$(GO) test -count=1 -timeout 15m ./integration/...

test: deps vet
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The quick start: containerd and podd in the background, the example image imported, the example
# pod running. Idempotent: what already runs is left alone.
up: deps build example-image
	./hack/up.sh

down:
	./hack/down.sh

example-image:
	$(GO) run ./hack/mkimage -name localhost/podd/busybox:1.35 -format oci -o $(BIN)/busybox-image.tar

clean:
	rm -rf $(BIN)

# The benchmarks: not part of `make test`, timed figures flake on shared machines. podbench starts
# its own containerd, podd and privately configured podman; see README, Performance.
bench-deps: deps
	./hack/install-bench-deps.sh

bench: bench-deps build
	$(GO) build -o $(BIN)/podbench ./bench/cmd/podbench
	$(BIN)/podbench -podd $(BIN)/podd -podctl $(BIN)/podctl
	@echo "Go benchmarks of the hot pure paths (decode, OCI spec): make bench-go"

# Go benchmarks of manifest decoding and OCI spec building; compare two runs with benchstat.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 10 ./pkg/pod/ ./pkg/runtime/
