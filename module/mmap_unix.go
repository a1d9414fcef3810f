//go:build unix

package module

import (
	"io"
	"os"
	"syscall"
)

// mmapped says whether mapFile maps (rather than reads) the file.
const mmapped = true

// mapFile maps the first size bytes of f read-only; the closer unmaps them.
func mapFile(f *os.File, size int) ([]byte, io.Closer, error) {
	d, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return d, unmapper(d), nil
}

type unmapper []byte

func (u unmapper) Close() error { return syscall.Munmap(u) }
