package xarchtrace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/trace"
)

// TestTraceInVM runs `taiji trace --json main.Mix -- tracetarget types 3`
// inside the VM and checks every decoded argument and result against what
// the program reports it passed: the arch's eBPF program, its pt_regs
// layout and Go register ABI data, on a real kernel (6.1 has no
// uprobe_multi: this is also the one-uprobe-per-site path). Where taiji has
// no eBPF program or ABI data for the arch, or refuses it because uprobes
// broke programs there (s390x), it must say so in one line.
func TestTraceInVM(t *testing.T) {
	goarch, ok := xarch.InVM()
	if !ok {
		t.Skip("runs in the qemu VMs of scripts/xarch-test; on the host, cmd/taiji's trace tests run the same checks")
	}
	taiji, ok1 := xarch.Target("taiji")
	target, ok2 := xarch.Target("tracetarget")
	if !ok1 || !ok2 {
		t.Fatal("targets missing from the VM (xarch_targets.txt)")
	}
	cmd := exec.Command(taiji, "trace", "--json", "main.Mix", "--", target, "types", "3")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("taiji trace on %s: %v\nstdout:\n%s\nstderr:\n%s", goarch, err, stdout.String(), stderr.String())

	if refused := trace.CheckArch(arch.Host()); refused != nil {
		// No eBPF program or ABI data for this arch yet, or uprobes
		// that break programs here (arch.UprobesUnsafe): one clear line.
		if err == nil || !strings.Contains(stderr.String(), refused.Error()) || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
			t.Errorf("want the one-line error %q, got %v: %q", refused, err, stderr.String())
		}
		return
	}
	if err != nil {
		t.Fatalf("taiji trace: %v", err)
	}
	// What the program passed, as it reports it (its stdout reaches
	// taiji's stderr), against what taiji decoded.
	var want []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) == nil && r["function"] == "main.Mix" {
			want = append(want, r)
		}
	}
	var calls, returns []map[string]any
	sc = bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("taiji printed a line that is not JSON: %q", sc.Text())
		}
		switch ev["event"] {
		case "call":
			calls = append(calls, ev)
		case "return":
			returns = append(returns, ev)
		}
	}
	if len(want) != 3 || len(calls) != 3 || len(returns) != 3 {
		t.Fatalf("program made %d calls; taiji saw %d calls, %d returns", len(want), len(calls), len(returns))
	}
	for i, w := range want {
		got := values(calls[i]["args"])
		for name, v := range w["args"].(map[string]any) {
			if fmt.Sprint(got[name]) != fmt.Sprint(v) {
				t.Errorf("call %d: %s = %v, program passed %v", i, name, got[name], v)
			}
		}
		got = values(returns[i]["results"])
		for name, v := range w["results"].(map[string]any) {
			if fmt.Sprint(got[name]) != fmt.Sprint(v) {
				t.Errorf("return %d: %s = %v, program returned %v", i, name, got[name], v)
			}
		}
		if calls[i]["goroutine"] == nil || calls[i]["goroutine"].(float64) < 1 {
			t.Errorf("call %d: no goroutine id", i)
		}
	}
}

// values maps the JSON args/results array to name -> value.
func values(v any) map[string]any {
	m := map[string]any{}
	list, _ := v.([]any)
	for _, a := range list {
		o, _ := a.(map[string]any)
		name, _ := o["name"].(string)
		m[name] = o["value"]
	}
	return m
}
