package trace

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/taijidbg/taiji/goabi"
)

// event builds a raw event the way bpf/trace.c lays it out.
func event(items ...[]byte) []byte {
	b := make([]byte, dataOff)
	le := binary.LittleEndian
	le.PutUint64(b[8:], 35) // goroutine
	le.PutUint32(b[68:], uint32(len(items)))
	for _, it := range items {
		h := make([]byte, 8)
		le.PutUint32(h, uint32(len(it)))
		le.PutUint32(h[4:], uint32(len(it)))
		b = append(b, h...)
		b = append(b, it...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	le.PutUint32(b[56:], uint32(len(b)))
	return b
}

func TestParseEvent(t *testing.T) {
	e, err := ParseEvent(event([]byte("hello"), []byte("cccccc")))
	if err != nil {
		t.Fatal(err)
	}
	if e.Goroutine != 35 || len(e.Items) != 2 || string(e.Items[0].Bytes) != "hello" || string(e.Items[1].Bytes) != "cccccc" {
		t.Fatalf("%+v", e)
	}
	bad := event([]byte("hello"))
	binary.LittleEndian.PutUint32(bad[dataOff:], 900) // item longer than the event
	if _, err := ParseEvent(bad); err == nil {
		t.Fatal("overrunning item accepted")
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(event())
	f.Add(event([]byte("hello"), []byte("cccccc")))
	for _, raw := range realEvents(f) { // real records, with stacks (root)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err != nil {
			return
		}
		for _, it := range e.Items {
			if len(it.Bytes) > itemMax {
				t.Fatalf("item of %d bytes", len(it.Bytes))
			}
		}
		if len(e.UStack)*8 > len(b) || len(e.KStack)*8 > len(b) {
			t.Fatalf("stacks of %d+%d PCs in %d bytes", len(e.UStack), len(e.KStack), len(b))
		}
	})
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, n string
		ok   bool
	}{{"main.*", "main.Mix", true}, {"net/http.(*conn).*", "net/http.(*conn).serve", true},
		{"main.M?x", "main.Mix", true}, {"main.*", "runtime.main", false}, {"*Mix", "main.Mix", true}} {
		if Match(c.p, c.n) != c.ok {
			t.Errorf("Match(%q, %q) != %v", c.p, c.n, c.ok)
		}
	}
}

// TestElided: a value deeper than taiji decodes says so, with its type, in
// text and in JSON (docs/json.md).
func TestElided(t *testing.T) {
	v := Object{{"V", json.Number("1")}, {"Next", Elided("main.T5")}}
	if got, want := Format(v), "{V:1, Next:main.T5{...}}"; got != want {
		t.Errorf("text %s, want %s", got, want)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"V":1,"Next":{"elided":"main.T5"}}`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	// A decoder reaching an elided type, or nesting deeper than it
	// decodes, yields Elided rather than a guess.
	d := &decoder{}
	if got := d.value("v", &goabi.Type{Name: "main.T5", Elided: true}, source{}, 0); got != Elided("main.T5") {
		t.Errorf("elided type decoded as %#v", got)
	}
	if got := d.value("v", &goabi.Type{Name: "main.S", Kind: reflect.Struct}, source{}, maxDecodeDepth+1); got != Elided("main.S") {
		t.Errorf("too deep a value decoded as %#v", got)
	}
}
