package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/target"
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

// Segment is a copy of target memory (target.Segment).
type Segment = target.Segment

// iovMax is the most ranges process_vm_readv takes in one call (IOV_MAX).
const iovMax = 1024

// ReadBatch implements target.BatchReader with process_vm_readv, up to
// iovMax segments per call. The call stops at the first range it cannot
// read in full: that segment is cut to what was read, and the next call
// starts after it.
func (m *Memory) ReadBatch(segs []target.Segment) {
	local := make([]unix.Iovec, 0, iovMax)
	remote := make([]unix.RemoteIovec, 0, iovMax)
	for len(segs) > 0 {
		local, remote = local[:0], remote[:0]
		batch := segs[:min(len(segs), iovMax)]
		for _, s := range batch {
			if len(s.Data) == 0 {
				// An empty iovec is legal, but Base must point somewhere.
				var b byte
				v := unix.Iovec{Base: &b}
				local = append(local, v)
				remote = append(remote, unix.RemoteIovec{Base: uintptr(s.Addr)})
				continue
			}
			v := unix.Iovec{Base: &s.Data[0]}
			v.SetLen(len(s.Data))
			local = append(local, v)
			remote = append(remote, unix.RemoteIovec{Base: uintptr(s.Addr), Len: len(s.Data)})
		}
		n, err := unix.ProcessVMReadv(m.pid, local, remote, 0)
		if err != nil && n <= 0 {
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
				// No process_vm_readv here: one read per segment.
				for i := range segs {
					k, _ := m.ReadAt(segs[i].Data, int64(segs[i].Addr))
					segs[i].Data = segs[i].Data[:k]
				}
				return
			}
			n = 0
		}
		// Segments wholly read, then the one the call stopped in.
		i := 0
		for i < len(batch) && n >= len(batch[i].Data) {
			n -= len(batch[i].Data)
			i++
		}
		if i == len(batch) {
			segs = segs[i:]
			continue
		}
		segs[i].Data = segs[i].Data[:n]
		segs = segs[i+1:]
	}
}
