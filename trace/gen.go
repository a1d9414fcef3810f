package trace

// The eBPF objects and their Go bindings are generated and committed, so
// building taiji needs no clang; `make generate` rebuilds them.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target amd64,arm64,ppc64le,s390x,riscv64 -type plan -type item -type stats bpf bpf/trace.c
