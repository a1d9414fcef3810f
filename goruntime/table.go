package goruntime

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"go/version"
	"reflect"
)

// table is one generated layout: a Go release's runtime structures for one
// pointer size, read from the DWARF of programs that release's toolchain
// built for Arches (gen_tables.go checks they agree).
type table struct {
	Release string
	PtrSize int
	Arches  string // the GOARCHes it was generated from, space-separated
	G       G
	M       M
	Gobuf   Gobuf
}

// ForRelease returns the layout of the runtime structures of Go release
// goVersion (as buildinfo reports it: "go1.22.3") for pointer size ptrSize,
// from the generated tables. A release between two generated ones takes the
// fields on which both agree (Source FromNeighbours: unverified) and leaves
// the rest Unknown; a release older or newer than every table takes the
// fields on which all tables agree, the same way. The error wraps
// ErrUnknownLayout when goVersion names no release or no table has
// ptrSize.
func ForRelease(goVersion string, ptrSize int) (*Layout, error) {
	rel := Release(goVersion)
	if rel == "" {
		return nil, fmt.Errorf("%w: no Go release in version %q", ErrUnknownLayout, goVersion)
	}
	var below, above *table
	for i := range tables {
		t := &tables[i]
		if t.PtrSize != ptrSize {
			continue
		}
		switch c := version.Compare(t.Release, rel); {
		case c == 0:
			return t.layout(FromTable, fmt.Sprintf("table for %s (%d-byte pointers)", rel, ptrSize)), nil
		case c < 0 && (below == nil || version.Compare(t.Release, below.Release) > 0):
			below = t
		case c > 0 && (above == nil || version.Compare(t.Release, above.Release) < 0):
			above = t
		}
	}
	known := Releases(ptrSize)
	if len(known) == 0 {
		return nil, fmt.Errorf("%w: no generated table for %d-byte pointers", ErrUnknownLayout, ptrSize)
	}
	// Between two generated releases, the fields both agree on; outside
	// them, the fields every generated release agrees on (g.sched has not
	// moved since go1.4; g.goid moves often).
	var from string
	var merged table
	if below != nil && above != nil {
		merged = *below
		merge(&merged, above)
		from = fmt.Sprintf("%s and %s, which agree on the fields given (unverified for %s)", below.Release, above.Release, rel)
	} else {
		first := true
		for i := range tables {
			if t := &tables[i]; t.PtrSize == ptrSize {
				if first {
					merged, first = *t, false
				}
				merge(&merged, t)
			}
		}
		from = fmt.Sprintf("every release from %s to %s, which agree on the fields given (unverified for %s)",
			known[0], known[len(known)-1], rel)
	}
	merged.Release = rel
	return merged.layout(FromNeighbours, from), nil
}

// merge sets every field of dst that differs in other to Unknown.
func merge(dst, other *table) {
	agree(reflect.ValueOf(&dst.G).Elem(), reflect.ValueOf(other.G))
	agree(reflect.ValueOf(&dst.M).Elem(), reflect.ValueOf(other.M))
	agree(reflect.ValueOf(&dst.Gobuf).Elem(), reflect.ValueOf(other.Gobuf))
}

// agree sets every Off field of dst that differs from the same field of
// other to Unknown.
func agree(dst, other reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		if dst.Field(i).Int() != other.Field(i).Int() {
			dst.Field(i).SetInt(int64(Unknown))
		}
	}
}

func (t *table) layout(src Source, from string) *Layout {
	return &Layout{Release: t.Release, PtrSize: t.PtrSize, Source: src, From: from, G: t.G, M: t.M, Gobuf: t.Gobuf}
}

// Releases lists the releases the generated tables cover for a pointer size.
func Releases(ptrSize int) []string {
	var out []string
	for _, t := range tables {
		if t.PtrSize == ptrSize {
			out = append(out, t.Release)
		}
	}
	return out
}

// ForBinary returns the layout for a Go binary: from its DWARF when d is
// not nil and describes runtime.g, else from the tables for goVersion (the
// binary's buildinfo version, "" if unknown). The error wraps
// ErrUnknownLayout when neither knows it.
func ForBinary(d *dwarf.Data, goVersion string, ptrSize int) (*Layout, error) {
	var dwErr error
	if d != nil {
		l, err := FromDWARF(d, ptrSize)
		if err == nil {
			l.Release = Release(goVersion)
			return l, nil
		}
		dwErr = err
	}
	l, err := ForRelease(goVersion, ptrSize)
	if err != nil && dwErr != nil && !errors.Is(dwErr, ErrUnknownLayout) {
		return nil, dwErr
	}
	return l, err
}
