package testprog

import (
	_ "embed"
	"os"
	"path/filepath"
	"testing"
)

//go:embed tracetarget/main.go
var traceTarget []byte

// C function target for taiji trace: add is called n times and prints each call.
const traceC = `#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) long add(long a, int b, const char *s) { return a + b + (s ? s[0] : 0); }
int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 3;
	for (int i = 0; i < n; i++) {
		long r = add(1000 + i, -i, "x");
		printf("{\"function\":\"add\",\"args\":{\"a\":%d,\"b\":%d},\"results\":{\"~r0\":%ld}}\n", 1000 + i, -i, r);
	}
	return 0;
}
`

// BuildTraceTarget builds tracetarget/main.go (the program taiji trace's
// tests trace; see its doc comment) with go build flags, in a temporary
// module, and returns the binary's path.
func BuildTraceTarget(t testing.TB, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tracetarget\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), traceTarget, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tracetarget")
	args := append([]string{"build", "-o", bin}, flags...)
	run(t, dir, []string{"GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0", "GO111MODULE=on"}, goTool(t), append(args, ".")...)
	return bin
}

// BuildTraceC builds the C trace target (add(long, int, const char *)) with
// gcc -O2 -g and returns its path.
func BuildTraceC(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "add.c")
	if err := os.WriteFile(src, []byte(traceC), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "add")
	run(t, dir, nil, "gcc", "-O2", "-g", "-o", bin, src)
	return bin
}
