package module

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultCacheDir is where inflated debug sections are kept between runs:
// $XDG_CACHE_HOME/taiji/debug, else ~/.cache/taiji/debug, else "" (none).
func DefaultCacheDir() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "taiji", "debug")
}

// cachedSection returns the contents of section s of f, through the cache
// when the section is compressed. Distributions compress their debug files,
// and so does Go's linker; inflating libc's .debug_info costs tens of
// milliseconds on every run: more than all the rest of a backtrace. An
// inflated section is a pure function of the file's build-id, so it is
// stored under it, as gdb's index-cache and debuginfod's client cache do,
// and mapped, not read, on later runs.
func (m *Module) cachedSection(f *elf.File, s *elf.Section) ([]byte, error) {
	if m.opts.CacheDir == "" || m.BuildID == "" || s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_COMPRESSED == 0 || s.Size > maxDecompressed {
		return s.Data()
	}
	// debug/elf reports a compressed section's inflated size as Size, so
	// a truncated or stale cache file is recognised by its length.
	path := filepath.Join(m.opts.CacheDir, m.BuildID, strings.TrimPrefix(s.Name, "."))
	if d, ok := m.mapCached(path, s.Size); ok {
		return d, nil
	}
	// Inflate straight into the cache file and map it: a large Go
	// binary's DWARF inflates to hundreds of megabytes, of which a run
	// touches a few pages.
	src := &readErr{r: s.Open()}
	err := writeAtomic(path, func(w io.Writer) error {
		// A corrupt stream may inflate past its header's size: one
		// byte more shows it.
		_, err := io.Copy(w, io.LimitReader(src, int64(s.Size)+1))
		return err
	})
	if src.err != nil {
		return nil, src.err // a corrupt section: no cache warning
	}
	if err == nil {
		if d, ok := m.mapCached(path, s.Size); ok {
			return d, nil
		}
		err = errors.New("inflated size differs from the header's")
	}
	m.warnf("module: cannot cache %s of %s: %v", s.Name, m.Path, err)
	return s.Data()
}

// readErr remembers the error its reader returned.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// writeAtomic writes a file that readers see whole or not at all, so that
// concurrent runs never read a half-written section.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// mapCached maps a cached section read-only, if it has the expected size.
// Mapping rather than reading matters: a run touches a few pages of
// megabytes of DWARF. Cache files are replaced by rename, never rewritten
// in place, so a mapping stays valid; it is unmapped by Close, after which
// the module's DWARF must not be used.
func (m *Module) mapCached(path string, size uint64) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || uint64(fi.Size()) != size || size == 0 || size > maxDecompressed {
		return nil, false
	}
	d, closer, err := mapFile(f, int(size))
	if err != nil {
		return nil, false
	}
	m.mu.Lock()
	m.closers = append(m.closers, closer)
	m.mu.Unlock()
	return d, true
}
