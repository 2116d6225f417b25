# podd — run Kubernetes Pods on one host with containerd.
#   make up     install what is missing, start containerd and podd, run the example pod (root)
#   make test   install what is missing, run unit and integration tests (root for integration)
#   make install  binaries and systemd units (see contrib/systemd)
#   make bench  podd against podman and the containerd floor on this machine (root; BENCH_OUT=file.json)

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin
LDFLAGS := -X github.com/podd-dev/podd/pkg/api.Version=$(VERSION)
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build deps test unit unit-race integration lint tools up down multinode multinode-down patterns-image example-image example-image-podctl fmt vet clean install uninstall bench bench-deps bench-go bench-ambassador fuzz

all: build

build: patterns-image
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/podd ./cmd/podctl ./cmd/podd-logger

# The patterns' helpers (cmd/podd-patterns), static and stripped, packed into the local OCI image
# localhost/podd/patterns:$(VERSION) with nothing else in it (no shell). podd imports it from
# podd-patterns.tar beside its own binary (or --patterns-image) the first time a pod asks for it.
PATTERNS_IMAGE := localhost/podd/patterns:$(VERSION)
# Its etcd variant localhost/podd/patterns-etcd:$(VERSION) (podd-patterns-etcd.tar) is the same
# helpers built with -tags etcd: the etcd backends of the elector and of the work queue, whose
# client (grpc, protobuf) adds 5 MB that the other helpers do without; podd injects it for
# elector.podd.io/backend: etcd and workqueue.podd.io/backend: etcd.
PATTERNS_ETCD_IMAGE := localhost/podd/patterns-etcd:$(VERSION)
patterns-image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/podd-patterns-static ./cmd/podd-patterns
	$(GO) run ./hack/mkimage -base scratch -name $(PATTERNS_IMAGE) -format oci -file $(BIN)/podd-patterns-static:/podd-patterns:0755 -entrypoint '["/podd-patterns"]' -o $(BIN)/podd-patterns.tar
	CGO_ENABLED=0 $(GO) build -tags etcd -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/podd-patterns-static-etcd ./cmd/podd-patterns
	$(GO) run ./hack/mkimage -base scratch -name $(PATTERNS_ETCD_IMAGE) -format oci -file $(BIN)/podd-patterns-static-etcd:/podd-patterns:0755 -entrypoint '["/podd-patterns"]' -o $(BIN)/podd-patterns-etcd.tar

# Debian packages podd needs at run time (and the tests' busybox).
deps:
	./hack/install-deps.sh

# Everything but the integration tests: no root, no containerd.
UNIT := $$($(GO) list ./... | grep -v /integration)

unit:
	$(GO) test $(UNIT)

# The unit tests under the race detector: the supervisor's workers, the API's streams and the
# helpers are concurrent by nature.
unit-race:
	$(GO) test -race -count=1 -timeout 10m $(UNIT)

# The timeout is a safety net for a hung test, not the time budget: ~10 min on a quiet 2-core
# machine, 15 under the load of other work.
integration: deps
	$(GO) test -count=1 -timeout 30m ./integration/...

test: deps vet lint unit-race integration

vet:
	$(GO) vet ./...

# Static analysis, pinned: staticcheck with its default checks (see staticcheck.conf), gofmt, and
# imports in three groups (standard library, third party, this module) as goimports -local makes.
TOOLS       := $(CURDIR)/$(BIN)/tools
STATICCHECK := $(TOOLS)/staticcheck
GOIMPORTS   := $(TOOLS)/goimports

tools: $(STATICCHECK) $(GOIMPORTS)

$(STATICCHECK):
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

$(GOIMPORTS):
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install golang.org/x/tools/cmd/goimports@v0.52.0

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@out=$$($(GOIMPORTS) -local github.com/podd-dev/podd -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "goimports -local github.com/podd-dev/podd: these files need their imports grouped:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

fmt: $(GOIMPORTS)
	gofmt -w $$(git ls-files '*.go')
	$(GOIMPORTS) -local github.com/podd-dev/podd -w $$(git ls-files '*.go')

# The quick start: containerd and podd in the background, the example image imported, the example
# pod running. Idempotent: what already runs is left alone.
up: deps build example-image
	./hack/up.sh

down:
	./hack/down.sh

# From one host to several, on one host: three podd "nodes" and a 3-member etcd, the etcd elector
# example on each (hack/multinode.sh: status, kill N, start N, down).
multinode: deps build example-image
	./hack/multinode.sh up

multinode-down:
	./hack/multinode.sh down

example-image:
	$(GO) run ./hack/mkimage -name localhost/podd/busybox:1.35 -format oci -o $(BIN)/busybox-image.tar

# busybox with a static podctl, for pods that talk to their own API socket (replicate yourself).
example-image-podctl:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/podctl-static ./cmd/podctl
	$(GO) run ./hack/mkimage -name localhost/podd/busybox-podctl:1 -format oci -file $(BIN)/podctl-static:/bin/podctl:0755 -o $(BIN)/busybox-podctl-image.tar

# Binaries, the systemd units (podd.service, podd.socket), logind's delay for graceful host
# shutdown and the static pod folder. DESTDIR stages into a folder (packaging); PREFIX moves the
# binaries. Then: systemctl daemon-reload && systemctl enable --now podd.socket podd.service
PREFIX  ?= /usr/local
DESTDIR ?=
SYSTEMD ?= /etc/systemd

install: build
	install -D -m 0755 $(BIN)/podd $(DESTDIR)$(PREFIX)/bin/podd
	install -D -m 0755 $(BIN)/podctl $(DESTDIR)$(PREFIX)/bin/podctl
	install -D -m 0755 $(BIN)/podd-logger $(DESTDIR)$(PREFIX)/bin/podd-logger
	install -D -m 0644 $(BIN)/podd-patterns.tar $(DESTDIR)$(PREFIX)/lib/podd/podd-patterns.tar
	install -D -m 0644 $(BIN)/podd-patterns-etcd.tar $(DESTDIR)$(PREFIX)/lib/podd/podd-patterns-etcd.tar
	install -d -m 0755 $(DESTDIR)$(SYSTEMD)/system $(DESTDIR)$(SYSTEMD)/logind.conf.d $(DESTDIR)/etc/podd/pods.d
	sed 's#/usr/local/bin/podd#$(PREFIX)/bin/podd#' contrib/systemd/podd.service > $(DESTDIR)$(SYSTEMD)/system/podd.service
	install -m 0644 contrib/systemd/podd.socket $(DESTDIR)$(SYSTEMD)/system/podd.socket
	install -m 0644 contrib/systemd/logind-podd.conf $(DESTDIR)$(SYSTEMD)/logind.conf.d/podd.conf
	@echo "installed; to start podd now and at boot: systemctl daemon-reload && systemctl enable --now podd.socket podd.service"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/podd $(DESTDIR)$(PREFIX)/bin/podctl $(DESTDIR)$(PREFIX)/bin/podd-logger $(DESTDIR)$(PREFIX)/lib/podd/podd-patterns.tar $(DESTDIR)$(PREFIX)/lib/podd/podd-patterns-etcd.tar $(DESTDIR)$(SYSTEMD)/system/podd.service \
		$(DESTDIR)$(SYSTEMD)/system/podd.socket $(DESTDIR)$(SYSTEMD)/logind.conf.d/podd.conf

clean:
	rm -rf $(BIN)

# The benchmarks: not part of `make test`, timed figures flake on shared machines. podbench starts
# its own containerd, podd and privately configured podman; see README, Performance. Its election
# part (leader failover and the chaos run, ~2 minutes; specs/patterns/elector.md) needs
# bin/podd-patterns.tar beside bin/podd: `build` makes it.
bench-deps: deps
	./hack/install-bench-deps.sh

bench: bench-deps build
	$(GO) build -o $(BIN)/podbench ./bench/cmd/podbench
	$(BIN)/podbench -podd $(BIN)/podd -podctl $(BIN)/podctl
	$(MAKE) --no-print-directory bench-ambassador
	@echo "Go benchmarks of the hot pure paths (decode, OCI spec): make bench-go"

# The ambassador against nutcracker (twemproxy) and redis directly: redis-benchmark -P 16 through
# each, same pool of three redis-servers; adds its keys to BENCH_OUT. See specs/patterns/ambassador.md.
bench-ambassador: bench-deps
	$(GO) build -o $(BIN)/ ./cmd/podd-patterns ./bench/cmd/ambassadorbench
	$(BIN)/ambassadorbench -ambassador $(BIN)/podd-patterns

# Go benchmarks of manifest decoding and OCI spec building; compare two runs with benchstat.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 10 ./pkg/manifest/ ./pkg/runtime/

# Every fuzz target, one after the other, FUZZTIME each (a duration, or 10000000x for a count of
# executions; no test timeout cuts a long run); FUZZFLAGS e.g. -parallel 1 on a shared machine. A crasher is kept under the
# package's testdata/fuzz and then replays as a seed in every go test run.
FUZZTIME  ?= 60s
FUZZFLAGS ?=
FUZZ_TARGETS := ./pkg/manifest:FuzzDecode ./pkg/pod:FuzzParseQuantity \
	./pkg/api/wire:FuzzReadFrame ./pkg/api/wire:FuzzExecRequest ./pkg/api/wire:FuzzMetadataPatch ./pkg/api/wire:FuzzQuery \
	./pkg/dns:FuzzServeDNS \
	./pkg/helpers/ambassador:FuzzRESPRequest ./pkg/helpers/ambassador:FuzzRESPReply \
	./pkg/helpers/ambassador:FuzzMemcacheRequest ./pkg/helpers/ambassador:FuzzMemcacheResponse \
	./pkg/helpers/adapter:FuzzStatsdPacket ./pkg/helpers/adapter:FuzzAppReplies ./pkg/helpers/adapter:FuzzRules

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -timeout 0 -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; \
	done
