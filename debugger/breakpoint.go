package debugger

import (
	"fmt"
	"sort"
	"strings"
)

// Breakpoint is a user's breakpoint: one location or several (a line with
// code in several functions), a condition, a hit count.
type Breakpoint struct {
	ID        int        `json:"id"`
	Spec      string     `json:"location"` // as the user typed it
	Locations []Location `json:"-"`
	Cond      string     `json:"condition,omitempty"`
	// Temp marks a tbreak: deleted at its first hit.
	Temp bool `json:"temporary,omitempty"`
	// Hits counts the stops it caused (its condition true).
	Hits int `json:"hits"`
}

// Addrs returns the breakpoint's addresses.
func (b *Breakpoint) Addrs() []uint64 {
	out := make([]uint64, len(b.Locations))
	for i, l := range b.Locations {
		out[i] = l.Addr
	}
	return out
}

// SetBreakpoint resolves spec (see Resolve) and plants a breakpoint there,
// stopping when cond (if not "") is true in the thread that hit it.
func (d *Debugger) SetBreakpoint(spec, cond string, temp bool) (*Breakpoint, error) {
	if err := d.checkCond(cond); err != nil {
		return nil, err
	}
	locs, err := d.Resolve(spec)
	if err != nil {
		return nil, err
	}
	var done []uint64
	for _, l := range locs {
		if err := d.s.SetBreakpoint(l.Addr); err != nil {
			for _, a := range done {
				d.s.ClearBreakpoint(a)
			}
			return nil, err
		}
		done = append(done, l.Addr)
	}
	b := &Breakpoint{ID: d.nextID, Spec: spec, Locations: locs, Cond: strings.TrimSpace(cond), Temp: temp}
	d.nextID++
	d.bps[b.ID] = b
	return b, nil
}

// Condition sets (or with "" removes) breakpoint id's condition.
func (d *Debugger) Condition(id int, cond string) error {
	b := d.bps[id]
	if b == nil {
		return fmt.Errorf("no breakpoint %d (see breakpoints)", id)
	}
	if err := d.checkCond(cond); err != nil {
		return err
	}
	b.Cond = strings.TrimSpace(cond)
	return nil
}

// checkCond rejects a condition that does not parse.
func (d *Debugger) checkCond(cond string) error {
	if strings.TrimSpace(cond) == "" {
		return nil
	}
	if err := d.evaluator().Check(cond); err != nil {
		return fmt.Errorf("bad condition: %v", err)
	}
	return nil
}

// ClearBreakpoint deletes breakpoint id, restoring the code under it.
func (d *Debugger) ClearBreakpoint(id int) error {
	b := d.bps[id]
	if b == nil {
		return fmt.Errorf("no breakpoint %d (see breakpoints)", id)
	}
	delete(d.bps, id)
	var first error
	for _, a := range b.Addrs() {
		if err := d.s.ClearBreakpoint(a); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Breakpoints returns the user's breakpoints by id.
func (d *Debugger) Breakpoints() []*Breakpoint {
	out := make([]*Breakpoint, 0, len(d.bps))
	for _, b := range d.bps {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// breakpointsAt returns the user's breakpoints at addr, by id.
func (d *Debugger) breakpointsAt(addr uint64) []*Breakpoint {
	var out []*Breakpoint
	for _, b := range d.Breakpoints() {
		for _, l := range b.Locations {
			if l.Addr == addr {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// setInternal plants a temporary breakpoint of a step at addr.
func (d *Debugger) setInternal(addr uint64) error {
	if err := d.s.SetBreakpoint(addr); err != nil {
		return err
	}
	d.internal[addr]++
	return nil
}

// clearInternal removes every temporary breakpoint of a step.
func (d *Debugger) clearInternal() {
	for a, n := range d.internal {
		for ; n > 0; n-- {
			d.s.ClearBreakpoint(a)
		}
		delete(d.internal, a)
	}
}
