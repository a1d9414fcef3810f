# taiji: the two commands a new machine needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
TAIJI   := $(BIN)/taiji
ARCHES  := amd64 arm64 mips64le riscv64 loong64 ppc64le s390x
# Debian packages the tests need: oracles (gdb, elfutils, binutils), target
# builders (gcc, g++, clang), a second tracer (strace), libc's debug file
# (the stack tests compare libc frames, inline ones included, with gdb's),
# llvm's llvm-dwp (split-DWARF packages; binutils' dwp packs DWARF 4 only), and
# the arm64 cross compiler (module's PLT naming test reads arm64 binaries).
DEBS    := gdb elfutils binutils gcc g++ clang strace libc6-dbg util-linux llvm \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross zstd xz-utils lz4
# The benchmarks' peers: eu-stack (elfutils) and gdb above, bpftrace, GNU
# time for peak RSS, and delve (from the module proxy, pinned, into bin/).
BENCH_DEBS := bpftrace time
DLV_VERSION := v1.27.2

.PHONY: all build demo test deps toolchains bench-deps vet unit xarch bench clean generate

all: build

build:
	$(GO) build -o $(TAIJI) ./cmd/taiji

$(BIN)/demo-go: examples/demo/main.go
	$(GO) build -o $@ ./examples/demo

$(BIN)/demo-native: examples/native/demo.c
	@mkdir -p $(BIN)
	gcc -O2 -g -pthread $< -o $@

# make demo: taiji starts each bundled example, prints every thread's stack
# (kernel frames above user frames), then ends it; then traces the Go
# example's main.Mix with eBPF uprobes for two seconds.
demo: build $(BIN)/demo-go $(BIN)/demo-native
	@echo "== taiji stack on a native C program (signal frame, inline frames, deep recursion)"
	$(TAIJI) stack --after 500ms -- $(BIN)/demo-native
	@echo
	@echo "== taiji stack on a Go program"
	$(TAIJI) stack --after 500ms -- $(BIN)/demo-go
	@echo
	@echo "== taiji goroutines on the Go program: every goroutine, from outside, in Go's traceback format"
	$(TAIJI) goroutines --after 500ms -- $(BIN)/demo-go
	@echo
	@echo "== taiji trace on the Go program: each call of main.Mix for 2s, then counts and latency"
	@if [ "$$(id -u)" = 0 ]; then $(TAIJI) trace --stats --duration 2s main.Mix -- $(BIN)/demo-go; \
	else echo "(skipped: eBPF tracing needs root, or CAP_BPF and CAP_PERFMON; try: sudo make demo)"; fi

# deps installs what the tests need (Debian packages), explicitly and without
# recommends, retrying apt while a mirror syncs (scripts/need-debs).
deps:
	scripts/need-debs $(DEBS)

# bench-deps: the peers the benchmarks measure against.
bench-deps: deps
	scripts/need-debs $(BENCH_DEBS)
	@[ -x $(BIN)/dlv ] || { echo "go install delve $(DLV_VERSION) into $(BIN)"; \
		GOBIN=$(abspath $(BIN)) $(GO) install github.com/go-delve/delve/cmd/dlv@$(DLV_VERSION); }

# The analysis packages read any arch's binaries and cores on any host: they
# must build for any GOOS. unwind takes a target.Snapshot, plain data that
# proc and the core reader produce.
PORTABLE := ./arch ./cfi ./module ./pclntab ./goabi ./disasm ./goruntime ./target ./unwind ./core

vet:
	$(GO) vet ./...
	@for a in $(ARCHES); do echo "go vet GOARCH=$$a"; GOARCH=$$a $(GO) vet ./... || exit 1; done
	@for os in darwin windows; do echo "go build GOOS=$$os $(PORTABLE)"; GOOS=$$os $(GO) build $(PORTABLE) || exit 1; done

# toolchains: every Go release the tests build targets with (scripts/go-toolchains;
# docs/goversions.md), listed in $(BIN)/go-toolchains.txt for the tests.
toolchains:
	@mkdir -p $(BIN)
	scripts/go-toolchains --install >$(BIN)/go-toolchains.txt.tmp
	mv $(BIN)/go-toolchains.txt.tmp $(BIN)/go-toolchains.txt
	@cat $(BIN)/go-toolchains.txt

# The Go matrix (docs/goversions.md) builds its targets with every release:
# on a fresh machine each release first compiles its standard library, so a
# package may need more than go test's default 10 minutes.
unit:
	TAIJI_GO_TOOLCHAINS=$(abspath $(BIN)/go-toolchains.txt) $(GO) test -count=1 -timeout 30m ./...

# xarch: the tests that must hold on other architectures, run on real
# Debian kernels under qemu (scripts/xarch-test; docs/xarch.md).
xarch:
	scripts/xarch-test arm64
	scripts/xarch-test mips64le
	scripts/xarch-test ppc64le
	scripts/xarch-test s390x
	scripts/xarch-test riscv64

test: deps toolchains vet unit xarch

bench: bench-deps build
	scripts/bench-stack
	scripts/bench-trace
	scripts/bench-inject
	scripts/bench-dump
	scripts/bench-goroutines 10000 100000
	scripts/bench-debug

clean:
	rm -rf $(BIN)

# generate rebuilds the committed eBPF objects of taiji trace (needs clang, libbpf-dev).
generate:
	scripts/need-debs clang llvm libbpf-dev linux-libc-dev
	cd trace && $(GO) generate
