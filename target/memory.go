package target

import (
	"fmt"
	"io"
	"sort"
)

// DefaultStackBytes is how much stack a producer copies per thread by
// default (proc.FreezeOptions.StackBytes), and the most the unwinder keeps
// of a goroutine's stack. It covers thousands of ordinary frames; copying
// more costs freeze time for every thread (a goroutine's SP sits in a heap
// arena tens of megabytes from the mapping's end), while the rare deeper
// frame is read live afterwards.
const DefaultStackBytes = 128 << 10

// Segment is a copy of target memory: Data was at Addr when copied.
type Segment struct {
	Addr uint64
	Data []byte
}

// End returns the first address past the segment.
func (s Segment) End() uint64 { return s.Addr + uint64(len(s.Data)) }

// segmentReader serves reads from copied segments and reads everything
// else from live.
type segmentReader struct {
	segs []Segment // sorted by Addr, non-overlapping
	live io.ReaderAt
}

// NewSegmentReader returns a reader at addresses that serves the bytes of
// segs and reads every other address from live (nil: such reads fail with
// an error wrapping io.ErrUnexpectedEOF). Where segments overlap, the one
// that starts first wins.
func NewSegmentReader(segs []Segment, live io.ReaderAt) io.ReaderAt {
	var s []Segment
	for _, sg := range segs {
		if len(sg.Data) > 0 {
			s = append(s, sg)
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Addr < s[j].Addr })
	// Drop overlaps (two threads on one stack cannot happen, but a
	// reader must not misbehave if it did): the earlier segment wins.
	out := s[:0]
	for _, sg := range s {
		if n := len(out); n > 0 && sg.Addr < out[n-1].End() {
			if sg.End() <= out[n-1].End() {
				continue
			}
			skip := out[n-1].End() - sg.Addr
			sg = Segment{Addr: sg.Addr + skip, Data: sg.Data[skip:]}
		}
		out = append(out, sg)
	}
	return &segmentReader{segs: out, live: live}
}

func (r *segmentReader) ReadAt(p []byte, off int64) (int, error) {
	addr := uint64(off)
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		// First segment ending after a.
		i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].End() > a })
		if i < len(r.segs) && r.segs[i].Addr <= a {
			sg := r.segs[i]
			done += copy(p[done:], sg.Data[a-sg.Addr:])
			continue
		}
		// Not copied: read live up to the next segment.
		want := p[done:]
		if i < len(r.segs) && r.segs[i].Addr-a < uint64(len(want)) {
			want = want[:r.segs[i].Addr-a]
		}
		if r.live == nil {
			return done, fmt.Errorf("target: address %#x was not copied: %w", a, io.ErrUnexpectedEOF)
		}
		n, err := r.live.ReadAt(want, int64(a))
		done += n
		if err != nil {
			return done, err
		}
		if n < len(want) {
			return done, io.ErrUnexpectedEOF
		}
	}
	return done, nil
}

// BatchReader is implemented by readers that copy many ranges in a few
// calls (a live process: process_vm_readv takes up to 1024 ranges at once).
// Reading every goroutine's g and stack while a process is frozen needs it:
// one call per range would keep a million-goroutine process stopped for
// seconds.
type BatchReader interface {
	// ReadBatch fills the Data of each segment with the bytes at its Addr.
	// A segment that cannot be read in full is cut to the bytes that
	// could be (possibly none); the others are unaffected.
	ReadBatch(segs []Segment)
}

// ReadBatch reads segs from r, in batches if r is a BatchReader, else one
// ReadAt per segment, with the same contract as BatchReader.ReadBatch.
func ReadBatch(r io.ReaderAt, segs []Segment) {
	if b, ok := r.(BatchReader); ok {
		b.ReadBatch(segs)
		return
	}
	for i := range segs {
		n, _ := r.ReadAt(segs[i].Data, int64(segs[i].Addr))
		segs[i].Data = segs[i].Data[:n]
	}
}
