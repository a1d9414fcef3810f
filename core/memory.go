package core

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/taijidbg/taiji/target"
)

// memory reads a core's process memory: a segment's bytes from the core,
// and what the core left out of a file-backed mapping (its text, usually:
// the kernel dumps a file mapping only where the process wrote to it) from
// the mapped file, if it was found and matches.
type memory struct {
	loads []load // sorted by vaddr
	r     io.ReaderAt
	maps  []target.Mapping
	files *files
}

// ReadAt reads len(p) bytes at address off. A short read returns the bytes
// read and an error naming the first address that is neither in the core
// nor in a file the core maps there.
func (m *memory) ReadAt(p []byte, off int64) (int, error) {
	return m.read(p, uint64(off), true)
}

// read is ReadAt; withFiles false reads the core's own bytes only.
func (m *memory) read(p []byte, addr uint64, withFiles bool) (int, error) {
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		n, err := m.readOne(p[done:], a, withFiles)
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, fmt.Errorf("core: address %#x is not in the core: %w", a, io.ErrUnexpectedEOF)
		}
	}
	return done, nil
}

// readOne reads at a from the one place that holds a: up to the end of
// that place, 0 bytes if none does.
func (m *memory) readOne(p []byte, a uint64, withFiles bool) (int, error) {
	i := sort.Search(len(m.loads), func(i int) bool { return m.loads[i].vaddr+m.loads[i].memsz > a })
	if i < len(m.loads) && m.loads[i].vaddr <= a && a-m.loads[i].vaddr < m.loads[i].filesz {
		l := m.loads[i]
		rel := a - l.vaddr
		if n := l.filesz - rel; uint64(len(p)) > n {
			p = p[:n]
		}
		n, err := m.r.ReadAt(p, int64(l.off+rel))
		if err == io.EOF && n == len(p) {
			err = nil
		}
		return n, err
	}
	if !withFiles || m.files == nil {
		return 0, nil
	}
	mp := target.Find(m.maps, a)
	if mp == nil || !strings.HasPrefix(mp.Path, "/") {
		return 0, nil
	}
	f := m.files.open(mp.Path)
	if f == nil {
		return 0, nil
	}
	if n := mp.End - a; uint64(len(p)) > n {
		p = p[:n]
	}
	n, err := f.ReadAt(p, int64(mp.Offset+a-mp.Start))
	if err == io.EOF {
		// Past the file's end (a mapping longer than its file): the
		// process would have faulted there.
		err = nil
	}
	return n, err
}
