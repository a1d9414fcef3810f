package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tracing needs root")
	}
}

// jsonLines decodes every JSON object line of s.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// normalize makes numbers comparable: json.Number -> canonical string.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		return string(v)
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = normalize(e)
		}
		return m
	case []any:
		var s []any
		for _, e := range v {
			s = append(s, normalize(e))
		}
		return s
	}
	return v
}

// traceAndCompare runs taiji trace --json on bin and checks that every call
// and return of funcs decodes to exactly what the target says it passed.
func traceAndCompare(t *testing.T, bin string, extra []string, funcs []string, targetArgs ...string) {
	args := append([]string{"trace", "--json"}, extra...)
	args = append(args, funcs...)
	args = append(append(args, "--", bin), targetArgs...)
	cmd := exec.Command(taijiBin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("taiji %v: %v\n%s", args, err, stderr.String())
	}
	// The target's own lines go to taiji's stderr (its stdout is the trace).
	truth := jsonLines(t, stderr.String())
	events := jsonLines(t, stdout.String())
	want := map[string][]map[string]any{}
	for _, tr := range truth {
		fn := tr["function"].(string)
		want[fn] = append(want[fn], tr)
	}
	got := map[string][]map[string]any{}
	var pending = map[string]map[string]any{}
	for _, ev := range events {
		fn, _ := ev["function"].(string)
		// Generic instances are named by their shapes, which differ by Go
		// release (F[go.shape.int], F[go.shape.int_0]): the truth leaves
		// type arguments out.
		fn = typeArgsRE.ReplaceAllString(fn, "")
		switch ev["event"] {
		case "call":
			c := map[string]any{}
			for _, a := range ev["args"].([]any) {
				a := a.(map[string]any)
				c[a["name"].(string)] = a["value"]
			}
			pending[fmt.Sprint(fn, ev["goroutine"])] = map[string]any{"function": fn, "args": c}
		case "return":
			r := map[string]any{}
			for _, a := range ev["results"].([]any) {
				a := a.(map[string]any)
				r[a["name"].(string)] = a["value"]
			}
			key := fmt.Sprint(fn, ev["goroutine"])
			c := pending[key]
			if c == nil {
				t.Fatalf("return without call: %v", ev)
			}
			c["results"] = r
			got[fn] = append(got[fn], c)
			delete(pending, key)
		}
	}
	for _, fn := range funcs {
		if len(want[fn]) == 0 {
			t.Fatalf("target reported no calls of %s; stderr:\n%s", fn, stderr.String())
		}
		if len(got[fn]) != len(want[fn]) {
			t.Fatalf("%s: traced %d calls, target made %d\n%s", fn, len(got[fn]), len(want[fn]), stdout.String())
		}
		// Goroutines run in any order: compare sorted lists.
		sortByJSON(want[fn])
		sortByJSON(got[fn])
		for i := range want[fn] {
			w, g := normalize(want[fn][i]), normalize(got[fn][i])
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s call %d:\n got  %v\n want %v", fn, i, g, w)
			}
		}
	}
}

var typeArgsRE = regexp.MustCompile(`\[[^\]]*\]`)

var typedFuncs = []string{"main.Mix", "main.Ints", "main.Move", "main.Fail", "main.Many"}

func TestTraceTypesOptimized(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceTarget(t)
	traceAndCompare(t, bin, nil, typedFuncs, "types", "7")
}

func TestTraceTypesNoOpt(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceTarget(t, "-gcflags=all=-N -l")
	traceAndCompare(t, bin, nil, typedFuncs, "types", "7")
}

func TestTraceStrippedWithSig(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceTarget(t, "-ldflags=-s -w")
	traceAndCompare(t, bin, []string{"--sig", "main.Mix(a int64, b uint8, ok bool, s string, bs []byte) (int64, string)"},
		[]string{"main.Mix"}, "types", "5")
}

// TestTraceStrippedErrorTypes: in a stripped binary (no DWARF, no
// symbols) an interface result still names its dynamic type, read from
// the runtime's type descriptor through moduledata (goruntime.TypeName),
// where it printed type@0x... before; also in a PIE.
func TestTraceStrippedErrorTypes(t *testing.T) {
	needRoot(t)
	for _, mode := range [][]string{{"-ldflags=-s -w"}, {"-ldflags=-s -w", "-buildmode=pie"}} {
		t.Run(strings.Join(mode, " "), func(t *testing.T) {
			bin := testprog.BuildTraceTarget(t, mode...)
			out, err := exec.Command(taijiBin, "trace", "--json", "--sig", "main.Fail(n int) error", "main.Fail", "--", bin, "types", "3").Output()
			if err != nil {
				t.Fatalf("taiji trace: %v\n%s", err, out)
			}
			var got []string
			for _, ev := range jsonLines(t, string(out)) {
				if ev["event"] != "return" {
					continue
				}
				v := ev["results"].([]any)[0].(map[string]any)["value"]
				if m, ok := v.(map[string]any); ok {
					got = append(got, fmt.Sprint(m["type"]))
				} else {
					got = append(got, fmt.Sprint(v))
				}
			}
			// Fail(0) is nil, Fail(1) errors.New, Fail(2) &MyError{}.
			if want := "<nil> *errors.errorString *main.MyError"; strings.Join(got, " ") != want {
				t.Errorf("main.Fail's results are typed %q, want %q", got, want)
			}
		})
	}
}

func TestTraceC(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceC(t)
	stdout, stderr, err := runTaiji(t, "trace", "--json", "add", "--", bin, "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	evs := jsonLines(t, stdout)
	var calls []string
	for _, ev := range evs {
		if ev["event"] == "call" {
			b, _ := json.Marshal(ev["args"])
			calls = append(calls, string(b))
		}
		if ev["event"] == "return" {
			b, _ := json.Marshal(ev["results"])
			calls = append(calls, string(b))
		}
	}
	var want []string
	for i := 0; i < 4; i++ {
		want = append(want,
			fmt.Sprintf(`[{"name":"a","type":"long int","value":%d},{"name":"b","type":"int","value":%d},{"name":"s","type":"*char","value":`, 1000+i, -i))
		want = append(want, fmt.Sprintf(`[{"name":"~r0","type":"long int","value":%d}]`, 1000+i-i+'x'))
	}
	if len(calls) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(calls), len(want), stdout)
	}
	for i := range want {
		if !strings.HasPrefix(calls[i], want[i]) {
			t.Errorf("event %d:\n got  %s\n want %s...", i, calls[i], want[i])
		}
		// const char *s is shown as the C string. The first call may find
		// the string's page not yet faulted in, which a probe cannot do.
		if i%2 == 0 {
			v := strings.TrimPrefix(calls[i], want[i])
			if v != `"x"}]` && (i > 0 || !strings.HasPrefix(v, `{"unavailable":"unreadable memory`)) {
				t.Errorf("call %d: s = %s, want \"x\"", i/2, v)
			}
		}
	}
}

// TestTraceGrowNeverCrashes traces a function whose goroutines grow and
// copy their stacks hundreds of times: the target must finish normally and
// every call must be counted once and paired with its return.
func TestTraceGrowNeverCrashes(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceTarget(t)
	const n = 200000
	stdout, stderr, err := runTaiji(t, "trace", "--quiet", "--stats", "--json", "main.Grow", "--", bin, "grow", strconv.Itoa(n))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	m := regexp.MustCompile(`grow done calls=(\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("target did not finish normally:\n%s", stderr)
	}
	calls, _ := strconv.Atoi(m[1])
	var sum map[string]any
	for _, ev := range jsonLines(t, stdout) {
		if ev["event"] == "summary" {
			sum = ev
		}
	}
	if sum == nil {
		t.Fatalf("no summary:\n%s", stdout)
	}
	f := sum["functions"].([]any)[0].(map[string]any)
	if f["calls"].(json.Number).String() != m[1] || f["returns"].(json.Number).String() != m[1] ||
		f["lost"].(json.Number).String() != "0" || calls < n/2 {
		t.Fatalf("calls/returns/lost = %v/%v/%v, true count %d", f["calls"], f["returns"], f["lost"], calls)
	}
}

// TestTraceRecursionAndGoroutines pairs each return with its own entry.
func TestTraceRecursionAndGoroutines(t *testing.T) {
	needRoot(t)
	bin := testprog.BuildTraceTarget(t)
	stdout, stderr, err := runTaiji(t, "trace", "--json", "main.Recurse", "--", bin, "recurse", "50")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// Recurse(n) returns n: results must come back innermost first, 0..50.
	next := 0
	for _, ev := range jsonLines(t, stdout) {
		if ev["event"] != "return" {
			continue
		}
		if _, ok := ev["duration_ns"]; !ok {
			t.Fatalf("unpaired return: %v", ev)
		}
		v := ev["results"].([]any)[0].(map[string]any)["value"].(json.Number).String()
		if v != strconv.Itoa(next) {
			t.Fatalf("return %d has result %s", next, v)
		}
		next++
	}
	if next != 51 {
		t.Fatalf("saw %d returns, want 51", next)
	}
	traceAndCompare(t, bin, nil, []string{"main.Mix"}, "goroutines", "64")
}

func TestProbes(t *testing.T) {
	bin := testprog.BuildTraceTarget(t)
	stdout, stderr, err := runTaiji(t, "probes", "--json", bin, "main.Mix")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var pf probeFunc
	if err := json.Unmarshal([]byte(stdout), &pf); err != nil {
		t.Fatal(err)
	}
	// objdump is the oracle for where the RETs and the stack check are.
	out, err := exec.Command("go", "tool", "objdump", "-s", "^main.Mix$", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var rets []string
	var afterJump string
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		if f[3] == "RET" {
			rets = append(rets, f[1])
		}
		if afterJump == "" && f[3] == "JBE" && i+1 < len(lines) {
			afterJump = strings.Fields(lines[i+1])[1]
		}
	}
	var got []string
	for _, r := range pf.Returns {
		got = append(got, r.Addr)
	}
	if !reflect.DeepEqual(got, rets) || pf.Entry.Addr != afterJump || !pf.StackCheck {
		t.Fatalf("probes: entry %s rets %v; objdump: after JBE %s, RETs %v", pf.Entry.Addr, got, afterJump, rets)
	}
	if want := []string{"a int64 @rax", "b uint8 @rbx", "ok bool @rcx", "s string @rdi+rsi", "bs []uint8 @r8+r9+r10"}; !reflect.DeepEqual(pf.Args, want) {
		t.Fatalf("args %v, want %v", pf.Args, want)
	}
}

func TestTraceBadInput(t *testing.T) {
	bin := testprog.BuildTraceTarget(t)
	_, stderr, err := runTaiji(t, "probes", bin, "main.Mxi")
	if err == nil || !strings.Contains(stderr, "did you mean main.Mix") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("unknown function: err %v stderr %q", err, stderr)
	}
	_, stderr, err = runTaiji(t, "probes", "--sig", "main.Mix(a int64", bin, "main.Mix")
	if err == nil || !strings.Contains(stderr, "--sig") {
		t.Fatalf("bad sig: err %v stderr %q", err, stderr)
	}
	if os.Geteuid() == 0 {
		_, stderr, err = runAs(t, 65534, "trace", "main.Mix", "--", bin)
		if err == nil || !strings.Contains(stderr, "root") {
			t.Fatalf("not root: err %v stderr %q", err, stderr)
		}
		// A C program, started or running, with Go-style patterns: one
		// line naming the patterns that matched nothing. "add" does match.
		cbin := testprog.BuildTraceC(t)
		_, stderr, err = runTaiji(t, "trace", "add", "main.Mix", "main.*", "--", cbin, "1")
		if err == nil || !strings.Contains(stderr, "not a Go program") || !strings.Contains(stderr, "nothing matches main.Mix main.*;") ||
			strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Fatalf("C program, Go patterns: err %v stderr %q", err, stderr)
		}
		sleep := exec.Command("sleep", "60")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		defer sleep.Process.Kill()
		_, stderr, err = runTaiji(t, "trace", "-p", strconv.Itoa(sleep.Process.Pid), "main.*")
		if err == nil || !strings.Contains(stderr, "not a Go program") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Fatalf("-p of a C process: err %v stderr %q", err, stderr)
		}
	}
}

func sortByJSON(ms []map[string]any) {
	key := func(m map[string]any) string { b, _ := json.Marshal(normalize(m)); return string(b) }
	sort.Slice(ms, func(i, j int) bool { return key(ms[i]) < key(ms[j]) })
}

// TestTraceStack checks --stack end to end: a known chain main.main ->
// main.A -> main.B -> traced main.Mix must be the first user frames, named
// as taiji stack names them, in a normal and a PIE build (whose load bias
// must be taken off before naming), and the kernel stack must be the
// uprobe's trap path.
func TestTraceStack(t *testing.T) {
	needRoot(t)
	for _, mode := range []string{"exe", "pie"} {
		t.Run(mode, func(t *testing.T) {
			bin := testprog.BuildTraceTarget(t, "-buildmode="+mode)
			stdout, stderr, err := runTaiji(t, "trace", "--json", "--stack", "main.Mix", "--", bin, "chain", "3")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			calls := 0
			for _, ev := range jsonLines(t, stdout) {
				if ev["event"] != "call" {
					continue
				}
				calls++
				var names []string
				for _, f := range ev["stack"].([]any) {
					f := f.(map[string]any)
					if f["kind"] != "user" || f["pc"] == nil || f["module"] != bin {
						t.Fatalf("bad user frame %v", f)
					}
					name, _ := f["function"].(string)
					names = append(names, name)
				}
				want := []string{"main.Mix", "main.B", "main.A", "main.main"}
				if len(names) < len(want) || !reflect.DeepEqual(names[:len(want)], want) {
					t.Fatalf("user stack %v, want it to start with %v", names, want)
				}
				trap := false
				for _, f := range ev["kernel_stack"].([]any) {
					f := f.(map[string]any)
					if f["kind"] != "kernel" {
						t.Fatalf("bad kernel frame %v", f)
					}
					if n, _ := f["function"].(string); strings.Contains(n, "uprobe") {
						trap = true
					}
				}
				if !trap {
					t.Fatalf("kernel stack %v is not a uprobe's trap path", ev["kernel_stack"])
				}
			}
			if calls != 3 {
				t.Fatalf("%d calls, want 3:\n%s", calls, stdout)
			}
		})
	}
}

// TestTraceDemo runs what `make demo` runs: trace main.Mix of the bundled
// example for a while; taiji must end the example itself, print the calls
// and the summary, and exit 0.
func TestTraceDemo(t *testing.T) {
	needRoot(t)
	bin := filepath.Join(t.TempDir(), "demo-go")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/demo").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	stdout, stderr, err := runTaiji(t, "trace", "--stats", "--duration", "1s", "main.Mix", "--", bin)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	calls := strings.Count(stdout, "main.Mix(a=")
	m := regexp.MustCompile(`(?m)^main\.Mix\s+(\d+)\s+(\d+)\s+0\s`).FindStringSubmatch(stdout)
	if calls == 0 || m == nil || m[1] != strconv.Itoa(calls) {
		t.Fatalf("%d calls printed, summary %v:\n%s", calls, m, stdout)
	}
}

// buildTraceCases builds testdata/tracecases with the go command goBin.
func buildTraceCases(t *testing.T, goBin string, flags ...string) string {
	t.Helper()
	src, err := os.ReadFile("testdata/tracecases/main.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tracecases\n\ngo 1.19\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tracecases")
	cmd := exec.Command(goBin, append(append([]string{"build", "-o", bin}, flags...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build: %v\n%s", goBin, err, out)
	}
	return bin
}

// caseFuncs are tracecases' functions, as patterns and as the names its
// truth lines use.
var caseFuncs = []string{
	"main.F", "main.Pair", "main.(*Box).Get", "main.Box.Val", // generic: a hidden dictionary argument
	"main.safe", "main.unnamed", "main.named", "main.twoDefer", // results with defers and recover
	"main.Deep",         // a parameter type nested deeper than taiji decodes
	"main.values.func1", // a closure
}

// TestTraceGoReleases traces generic functions and methods, results of
// functions with defers, a parameter whose type nests deeply and a closure,
// built by every Go release, optimized and not: every call and result must
// decode to what the target says it passed.
func TestTraceGoReleases(t *testing.T) {
	needRoot(t)
	for _, tc := range testprog.Toolchains(t) {
		for _, mode := range []string{"opt", "noopt"} {
			t.Run(tc.Version+"-"+mode, func(t *testing.T) {
				var flags []string
				if mode == "noopt" {
					flags = []string{"-gcflags=all=-N -l"}
				}
				bin := buildTraceCases(t, tc.Go, flags...)
				traceAndCompare(t, bin, nil, caseFuncs, "values")
			})
		}
	}
}

// TestTraceGlobs: globs match closures, methods and generic instances as
// they are written in Go, with real probes on them.
func TestTraceGlobs(t *testing.T) {
	needRoot(t)
	bin := buildTraceCases(t, "go")
	for _, c := range []struct {
		patterns []string
		want     []string // functions traced, type arguments left out
	}{
		{[]string{"main.values.func*"}, []string{"main.values.func1"}},
		{[]string{"main.*func1"}, []string{"main.safe.func1", "main.twoDefer.func1", "main.unnamed.func1", "main.values.func1"}},
		{[]string{"main.(*Box).*"}, []string{"main.(*Box).Get"}},
		{[]string{"main.(*Box[...]).Get", "main.F[...]"}, []string{"main.(*Box).Get", "main.F"}},
		{[]string{"main.Box*.Val"}, []string{"main.Box.Val"}},
		{[]string{"main.Pa?r"}, []string{"main.Pair"}},
	} {
		args := append(append([]string{"trace", "--json"}, c.patterns...), "--", bin, "values")
		stdout, stderr, err := runTaiji(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.patterns, err, stderr)
		}
		seen := map[string]bool{}
		for _, ev := range jsonLines(t, stdout) {
			if ev["event"] == "call" {
				seen[typeArgsRE.ReplaceAllString(ev["function"].(string), "")] = true
			}
		}
		var got []string
		for fn := range seen {
			got = append(got, fn)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v traced %v, want %v", c.patterns, got, c.want)
		}
	}
}

// TestTraceHTTPServer traces the functions people trace in a net/http
// server, whose parameter types (conn, Server, Request...) link to one
// another far deeper than taiji decodes, under a bounded load of requests
// the test makes: every function must be probed with its types, every call
// paired with its return, and nothing reported wrong.
func TestTraceHTTPServer(t *testing.T) {
	needRoot(t)
	bin := buildTraceCases(t, "go")
	funcs := []string{"net/http.(*conn).serve", "net/http.(*conn).readRequest", "net/http.serverHandler.ServeHTTP"}
	cmd := exec.Command(taijiBin, append(append([]string{"trace", "--json"}, funcs...), "--", bin, "http")...)
	stdin, err := cmd.StdinPipe() // the server's: it shuts down when it closes
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderrPipe)
	var addr string
	var stderr []string
	for addr == "" && sc.Scan() {
		stderr = append(stderr, sc.Text())
		if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			addr = a
		}
	}
	if addr == "" {
		cmd.Wait()
		t.Fatalf("the server did not start:\n%s", strings.Join(stderr, "\n"))
	}
	rest := make(chan []string)
	go func() {
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		rest <- lines
	}()
	// One connection per request, so serve runs once per request too.
	const n = 40
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		resp, err := client.Get(fmt.Sprintf("http://%s/r%d", addr, i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != fmt.Sprintf("hello /r%d\n", i) {
			t.Fatalf("response %q", body)
		}
	}
	stdin.Close()
	stderr = append(stderr, <-rest...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("taiji: %v\n%s", err, strings.Join(stderr, "\n"))
	}
	for _, l := range stderr {
		if strings.HasPrefix(l, "taiji:") {
			t.Errorf("taiji said: %s", l)
		}
	}
	calls := map[string]int{}
	for _, ev := range jsonLines(t, stdout.String()) {
		switch ev["event"] {
		case "call":
			fn := ev["function"].(string)
			calls[fn]++
			// The receiver is decoded: an address and what it points to.
			recv := ev["args"].([]any)[0].(map[string]any)
			if v, ok := recv["value"].(map[string]any); !ok || v["ptr"] == nil && fn != "net/http.serverHandler.ServeHTTP" {
				t.Fatalf("%s: receiver %v not decoded", fn, recv)
			}
		case "summary":
			for _, f := range ev["functions"].([]any) {
				f := f.(map[string]any)
				c, r := f["calls"].(json.Number).String(), f["returns"].(json.Number).String()
				if c != strconv.Itoa(n) || r != c || f["lost"].(json.Number).String() != "0" || f["unmatched"].(json.Number).String() != "0" {
					t.Errorf("%s: calls %s returns %s lost %v unmatched %v, want %d calls, all returned", f["function"], c, r, f["lost"], f["unmatched"], n)
				}
			}
		}
	}
	for _, fn := range funcs {
		if calls[fn] != n {
			t.Errorf("%s: %d call events, want %d", fn, calls[fn], n)
		}
	}
}

// TestTraceGenericSig: a stripped binary's generic instances traced with
// --sig, which names the instance by its symbol and lists a method's
// receiver first; taiji adds the dictionary argument itself.
func TestTraceGenericSig(t *testing.T) {
	needRoot(t)
	bin := buildTraceCases(t, "go", "-ldflags=-s -w")
	stdout, stderr, err := runTaiji(t, "trace", "--json",
		"--sig", "main.F[go.shape.int](v int) int",
		"--sig", "main.(*Box[go.shape.string]).Get(b unsafe.Pointer, x int) string",
		"main.F[go.shape.int]", "main.(*Box).Get", "--", bin, "values")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var got []string
	for _, ev := range jsonLines(t, stdout) {
		var vals []any
		switch ev["event"] {
		case "call":
			vals = ev["args"].([]any)
		case "return":
			vals = ev["results"].([]any)
		default:
			continue
		}
		for _, v := range vals {
			v := v.(map[string]any)
			if v["name"] != "b" { // an address
				got = append(got, fmt.Sprintf("%s=%v", v["name"], v["value"]))
			}
		}
	}
	want := []string{"v=3", "~r0=3", "x=7", "~r0=boxed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v\n%s", got, want, stdout)
	}
}
