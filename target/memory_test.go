package target

import "testing"

func FuzzSegmentReader(f *testing.F) {
	f.Add(uint64(0x1000), 16, uint64(0x1008), 16, int64(0x1004), 12)
	f.Fuzz(func(t *testing.T, a1 uint64, n1 int, a2 uint64, n2 int, off int64, n int) {
		if n1 < 0 || n2 < 0 || n < 0 || n1 > 1<<12 || n2 > 1<<12 || n > 1<<13 {
			return
		}
		mk := func(a uint64, n int, c byte) Segment {
			d := make([]byte, n)
			for i := range d {
				d[i] = c + byte(i)
			}
			return Segment{Addr: a, Data: d}
		}
		s1, s2 := mk(a1, n1, 1), mk(a2, n2, 101)
		if s1.End() < s1.Addr || s2.End() < s2.Addr {
			return // wraps around
		}
		r := NewSegmentReader([]Segment{s1, s2}, nil)
		p := make([]byte, n)
		got, err := r.ReadAt(p, off)
		if got > n || (err == nil && got != n) {
			t.Fatalf("ReadAt = %d, %v", got, err)
		}
		// Every byte served comes from a segment holding that address;
		// where they overlap, from the one that starts first.
		for i := 0; i < got; i++ {
			a := uint64(off) + uint64(i)
			var want []byte
			for _, s := range []Segment{s1, s2} {
				if s.Addr <= a && a < s.End() {
					want = append(want, s.Data[a-s.Addr])
				}
			}
			switch {
			case len(want) == 0:
				t.Fatalf("byte at %#x served from nowhere", a)
			case len(want) == 2 && s1.Addr != s2.Addr:
				if s2.Addr < s1.Addr {
					want = want[1:]
				} else {
					want = want[:1]
				}
			}
			if p[i] != want[0] && (len(want) == 1 || p[i] != want[1]) {
				t.Fatalf("byte at %#x = %d, want %v", a, p[i], want)
			}
		}
	})
}
