package goroutines

import (
	"io"
	"time"

	"github.com/google/pprof/profile"

	"github.com/taijidbg/taiji/unwind"
)

// WritePprof writes gs as a goroutine profile in pprof's protobuf format,
// as Go's /debug/pprof/goroutine (debug=0) does: one sample per distinct
// stack, its value the number of goroutines, locations at their PCs with
// the inline frames as lines. Each sample is labelled with the goroutines'
// state, for `go tool pprof -tagfocus`. Hidden runtime frames are kept, as
// in Go's profile. exe names the main mapping.
func WritePprof(w io.Writer, gs []*Goroutine, exe string, at time.Time) error {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "goroutine", Unit: "count"},
		Period:     1,
		TimeNanos:  at.UnixNano(),
	}
	main := &profile.Mapping{ID: 1, File: exe, HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
	p.Mapping = []*profile.Mapping{main}
	funcs := map[string]*profile.Function{}
	locs := map[uint64]*profile.Location{}
	fn := func(f *unwind.Frame) *profile.Function {
		k := f.Function + "\x00" + f.File
		if x := funcs[k]; x != nil {
			return x
		}
		x := &profile.Function{ID: uint64(len(p.Function) + 1), Name: f.Function, SystemName: f.Function, Filename: f.File}
		if x.Name == "" {
			x.Name = "??"
		}
		funcs[k] = x
		p.Function = append(p.Function, x)
		return x
	}
	type key struct {
		st    *Stack
		state string
	}
	samples := map[key]*profile.Sample{}
	for _, g := range gs {
		k := key{g.Stack, g.State}
		if s := samples[k]; s != nil {
			s.Value[0]++
			continue
		}
		s := &profile.Sample{Value: []int64{1}, Label: map[string][]string{"state": {g.State}}}
		// The frames of one physical PC (inline ones first, then the
		// physical one) make one location, shared by every sample.
		unit := 0
		for i := range g.Stack.Frames {
			f := &g.Stack.Frames[i]
			if f.Kind == unwind.Kernel {
				unit = i + 1
				continue
			}
			if f.Kind == unwind.Inline && i+1 < len(g.Stack.Frames) {
				continue
			}
			l := locs[f.PC]
			if l == nil {
				l = &profile.Location{ID: uint64(len(p.Location) + 1), Address: f.PC, Mapping: main}
				for j := unit; j <= i; j++ {
					fr := &g.Stack.Frames[j]
					l.Line = append(l.Line, profile.Line{Function: fn(fr), Line: int64(fr.Line)})
				}
				locs[f.PC] = l
				p.Location = append(p.Location, l)
			}
			s.Location = append(s.Location, l)
			unit = i + 1
		}
		samples[k] = s
		p.Sample = append(p.Sample, s)
	}
	return p.Write(w)
}
