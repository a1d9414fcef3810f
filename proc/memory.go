package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Memory reads the memory of a live process. It uses process_vm_readv,
// one system call per read and no file descriptor, and falls back to
// /proc/PID/mem where that call is unavailable (seccomp, old kernels).
type Memory struct {
	pid int

	once sync.Once
	mem  *os.File // the fallback, opened on first need
	err  error
}

// NewMemory returns a reader for the memory of pid. Any thread ID of the
// process serves as well, which matters once the leader has exited.
func NewMemory(pid int) *Memory { return &Memory{pid: pid} }

// ReadAt reads len(p) bytes at address off. A short read returns the bytes
// that could be read and an error naming the first address that could not.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := readRemote(m.pid, p, uint64(off))
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return m.readFile(p, off)
	}
	if n == len(p) {
		return n, nil
	}
	return n, m.readError(uint64(off)+uint64(n), err)
}

func (m *Memory) readError(addr uint64, err error) error {
	if errors.Is(err, unix.ESRCH) {
		return exited(m.pid)
	}
	if err == nil || errors.Is(err, unix.EFAULT) || errors.Is(err, unix.EIO) {
		return fmt.Errorf("proc: PID %d: address %#x is not mapped: %w", m.pid, addr, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("proc: PID %d: reading memory at %#x: %w", m.pid, addr, err)
}

func (m *Memory) readFile(p []byte, off int64) (int, error) {
	m.once.Do(func() {
		m.mem, m.err = os.Open(procPath(m.pid, "mem"))
		if m.err != nil {
			m.err = fileError(m.pid, m.err)
		}
	})
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.mem.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	return n, m.readError(uint64(off)+uint64(n), err)
}

// Close releases the /proc/PID/mem file if the fallback opened it.
func (m *Memory) Close() error {
	if m.mem != nil {
		return m.mem.Close()
	}
	return nil
}

// readRemote copies len(p) bytes at addr from pid with process_vm_readv. It
// returns how many bytes were copied: the call stops at the first page that
// is not mapped.
func readRemote(pid int, p []byte, addr uint64) (int, error) {
	total := 0
	for total < len(p) {
		// The kernel caps one call at MAX_RW_COUNT (about 2 GiB).
		chunk := p[total:]
		if len(chunk) > 1<<30 {
			chunk = chunk[:1<<30]
		}
		local := []unix.Iovec{{Base: (*byte)(unsafe.Pointer(&chunk[0]))}}
		local[0].SetLen(len(chunk))
		remote := []unix.RemoteIovec{{Base: uintptr(addr + uint64(total)), Len: len(chunk)}}
		n, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if n > 0 {
			total += n
		}
		if err != nil {
			return total, err
		}
		if n < len(chunk) {
			return total, nil // stopped at an unmapped page
		}
	}
	return total, nil
}

// Segment is a copy of target memory: Data was at Addr when copied.
type Segment struct {
	Addr uint64
	Data []byte
}

// End returns the first address past the segment.
func (s Segment) End() uint64 { return s.Addr + uint64(len(s.Data)) }

// segmentReader serves reads from copied segments and reads everything
// else from the live process.
type segmentReader struct {
	segs []Segment // sorted by Addr, non-overlapping
	live io.ReaderAt
}

func newSegmentReader(segs []Segment, live io.ReaderAt) *segmentReader {
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
			return done, fmt.Errorf("proc: address %#x was not copied: %w", a, io.ErrUnexpectedEOF)
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
