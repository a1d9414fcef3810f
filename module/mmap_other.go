//go:build !unix

package module

import (
	"io"
	"os"
)

// mmapped says whether mapFile maps (rather than reads) the file.
const mmapped = false

// mapFile reads the first size bytes of f: where there is no mmap (module
// is an analysis package that builds on any GOOS, to read cores and
// binaries of any system), the cache costs memory instead of page faults.
func mapFile(f *os.File, size int) ([]byte, io.Closer, error) {
	d := make([]byte, size)
	if _, err := io.ReadFull(f, d); err != nil {
		return nil, nil, err
	}
	return d, io.NopCloser(nil), nil
}
