package core

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/target"
)

// files finds the files a core maps: the executable at Options.Exe, the
// others at their paths below Options.Sysroot. It is the core's
// target.Files: a file found missing or different from the one the
// process mapped is reported once in the snapshot's warnings and opened
// by no one (MappedFile returns ""), so its frames are shown unnamed
// rather than named from the wrong binary.
type files struct {
	opts Options
	exe  string // the executable's path, as the core names it
	a    *arch.Arch

	mu     sync.Mutex
	byPath map[string]*fileState
}

type fileState struct {
	path, root string // the file is root+path
	bad        bool   // missing or mismatched: not to be used
	checked    bool   // inspect ran: the fields below are set
	err        error  // opening it as an ELF file failed
	buildID    string
	arch       *arch.Arch
	loads      []elfLoad
	f          *os.File // opened for memory reads; nil until needed
	openErr    error
}

// elfLoad is a PT_LOAD segment of a mapped file.
type elfLoad struct {
	off, size uint64
	flags     elf.ProgFlag
}

func newFiles(b *builder, s *target.Snapshot) *files {
	return &files{opts: b.opts, exe: s.Exe, a: b.a, byPath: map[string]*fileState{}}
}

// resolve says where the file the core names path is: Options.Exe for the
// executable, else path below the sysroot; a deleted file (" (deleted)" in
// its name) is looked for under its name before deletion.
func (fs *files) resolve(path string) *fileState {
	if st := fs.byPath[path]; st != nil {
		return st
	}
	st := &fileState{path: path, root: fs.opts.Sysroot}
	switch {
	case path == fs.exe && fs.opts.Exe != "":
		if abs, err := filepath.Abs(fs.opts.Exe); err == nil {
			st.path, st.root = abs, ""
		} else {
			st.path, st.root = fs.opts.Exe, ""
		}
	case strings.HasSuffix(path, " (deleted)"):
		if _, err := os.Stat(st.root + path); err != nil {
			st.path = strings.TrimSuffix(path, " (deleted)")
		}
	}
	fs.byPath[path] = st
	return st
}

// MappedFile implements target.Files.
func (fs *files) MappedFile(m target.Mapping, root string) (path, viaRoot string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := fs.resolve(m.Path)
	if st.bad {
		return "", ""
	}
	return st.path, st.root
}

// inspect opens the file the core names path, once, and records what
// check and segment permissions need of it.
func (fs *files) inspect(path string) *fileState {
	st := fs.resolve(path)
	if st.checked {
		return st
	}
	st.checked = true
	mod, err := module.Open(st.path, module.Options{Root: st.root, DebugDirs: []string{}})
	if err != nil {
		st.err = err
		return st
	}
	defer mod.Close()
	st.buildID, st.arch = mod.BuildID, mod.Arch
	for _, p := range mod.File.Progs {
		if p.Type == elf.PT_LOAD {
			st.loads = append(st.loads, elfLoad{off: p.Off, size: p.Filesz, flags: p.Flags})
		}
	}
	return st
}

// perm returns the permissions of a mapping of path at file offset off
// from the file's own segments, for a mapping the core lists in NT_FILE
// but gave no segment (gdb's gcore leaves out what it does not dump);
// "r--p" if the file does not say.
func (fs *files) perm(path string, off uint64) string {
	st := fs.inspect(path)
	for _, l := range st.loads {
		if l.off&^0xfff <= off && off < l.off+l.size {
			return perm(l.flags)
		}
	}
	return "r--p"
}

// check looks for every file the core maps executable code from, and
// compares its build-id with the one in the core (from the file's first
// page, which the kernel dumps for that purpose: coredump_filter bit 4).
// It returns one warning for all missing files and one per mismatched one.
func (fs *files) check(mem *memory) []string {
	var missing, warnings []string
	seen := map[string]bool{}
	for _, m := range mem.maps {
		if !m.Exec() || !strings.HasPrefix(m.Path, "/") || seen[m.Path] {
			continue
		}
		seen[m.Path] = true
		st := fs.inspect(m.Path)
		if st.err != nil {
			st.bad = true
			if errors.Is(st.err, os.ErrNotExist) {
				missing = append(missing, m.Path)
			} else {
				warnings = append(warnings, fmt.Sprintf("%s: %v; its frames are shown unnamed", m.Path, st.err))
			}
			continue
		}
		want := fs.coreBuildID(mem, m.Path)
		where := st.root + st.path
		switch {
		case st.arch != fs.a:
			st.bad = true
			warnings = append(warnings, fmt.Sprintf("%s is a %s file, the core's process ran %s: its frames are shown unnamed (give the %s files with --sysroot DIR, or --exe)", where, st.arch.Name, fs.a.Name, fs.a.Name))
		case want != "" && st.buildID != "" && want != st.buildID:
			st.bad = true
			warnings = append(warnings, fmt.Sprintf("%s is not the file the process mapped (build-id %s, the core's is %s): its frames are shown unnamed (give the right one with --exe or --sysroot DIR)", where, st.buildID, want))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		hint := "give --sysroot DIR holding the crashed machine's files, or --exe for the program"
		if fs.a != arch.Host() && fs.opts.Sysroot == "" {
			hint = "the core's process ran on " + fs.a.Name + ": give --sysroot DIR holding its files"
		}
		warnings = append([]string{fmt.Sprintf("not found on this machine, frames in them are shown unnamed (%s): %s", hint, strings.Join(missing, ", "))}, warnings...)
	}
	return warnings
}

// coreBuildID returns the build-id of the file at path as the core recorded
// it, or "" if the core has not kept its ELF header.
func (fs *files) coreBuildID(mem *memory, path string) string {
	for _, m := range mem.maps {
		if m.Path != path || m.Offset != 0 {
			continue
		}
		hdr := make([]byte, min(m.End-m.Start, 4096))
		n, _ := mem.read(hdr, m.Start, false)
		return elfHeaderBuildID(hdr[:n])
	}
	return ""
}

// open returns the file the core maps at path, opened for reading, or nil
// if it is missing or mismatched.
func (fs *files) open(path string) *os.File {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := fs.resolve(path)
	if st.bad || st.openErr != nil {
		return nil
	}
	if st.f == nil {
		st.f, st.openErr = os.Open(st.root + st.path)
		if st.openErr != nil {
			return nil
		}
	}
	return st.f
}

// Close closes the files opened for memory reads.
func (fs *files) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, st := range fs.byPath {
		if st.f != nil {
			st.f.Close()
			st.f = nil
		}
	}
	return nil
}
