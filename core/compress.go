package core

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// readerAtCloser is what NewCore reads from and Close releases.
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// Magic numbers of the compressed formats systemd-coredump writes
// (Storage=external, Compress=yes): zstd (RFC 8878), xz, lz4 frames.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	lz4Magic  = []byte{0x04, 0x22, 0x4d, 0x18}
)

// decompress returns f itself and its size if it is not compressed, else a
// temporary file (already unlinked: nothing is left behind, whatever
// happens) holding its decompressed bytes: reading a core needs random
// access, and a core may be larger than memory.
func decompress(f *os.File, name string) (readerAtCloser, int64, error) {
	var magic [6]byte
	n, _ := f.ReadAt(magic[:], 0)
	var (
		format string
		open   func(io.Reader) (io.Reader, error)
	)
	switch m := magic[:n]; {
	case bytes.HasPrefix(m, zstdMagic):
		format = "zstd"
		open = func(r io.Reader) (io.Reader, error) {
			d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(1<<40))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		}
	case bytes.HasPrefix(m, xzMagic):
		format = "xz"
		open = func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) }
	case bytes.HasPrefix(m, lz4Magic):
		format = "lz4"
		open = func(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil }
	default:
		fi, err := f.Stat()
		if err != nil {
			return nil, 0, fmt.Errorf("core: %w", err)
		}
		return f, fi.Size(), nil
	}
	tmp, err := os.CreateTemp("", "taiji-core-*")
	if err != nil {
		return nil, 0, fmt.Errorf("core: %s is %s-compressed and no temporary file could hold it decompressed: %w", name, format, err)
	}
	os.Remove(tmp.Name())
	fail := func(err error) (readerAtCloser, int64, error) {
		tmp.Close()
		return nil, 0, &FormatError{File: name, Offset: -1, Msg: "cannot decompress " + format, Err: err}
	}
	dr, err := open(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fail(err)
	}
	size, err := io.Copy(tmp, dr)
	if c, ok := dr.(io.Closer); ok {
		c.Close()
	}
	if err != nil {
		return fail(err)
	}
	return tmp, size, nil
}
