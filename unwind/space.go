package unwind

import (
	"sort"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/cfi"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/pclntab"
	"github.com/taijidbg/taiji/target"
)

// image is one module with its unwind tables, loaded once per Unwinder and
// shared by every thread and every mapping of it.
type image struct {
	mod      *module.Module
	err      error
	reported bool
	warned   int // how many of mod.Warnings() were reported

	tramp sync.Map // link-time PC -> whether a signal trampoline starts there

	once sync.Once
	eh   *cfi.Table // from .eh_frame (+ .eh_frame_hdr)
	pcln *pclntab.Table
	pcs  *pcCache // facts per PC of pcln (pccache.go), with pcln
	// plains says which PCs of pcln are plain Go frames (gofast.go).
	plains *plainCache

	dbgOnce sync.Once
	dbg     *cfi.Table // from .debug_frame: see debugFrame

	rtOnce sync.Once
	rt     *goruntime.Layout // the Go runtime's layout (gstate.go)
	goVer  string            // the Go release that built it, "" if unknown
	rtErr  error
}

// tables parses the unwind tables on first use: a module whose frames are
// never walked costs nothing beyond opening its ELF headers. Both are read
// in place from the mapped file; the pclntab is decoded per function
// looked up.
func (im *image) tables() {
	im.once.Do(func() {
		m := im.mod
		if data, addr, ok := m.Section(".eh_frame"); ok {
			hdr, hdrAddr, _ := m.Section(".eh_frame_hdr")
			im.eh, _ = cfi.ParseEHFrame(data, addr, hdr, hdrAddr, m.Arch)
		}
		im.pcln, _ = pclntab.OpenSource(m.File, m)
		if im.pcln != nil {
			im.pcs = new(pcCache)
			im.plains = new(plainCache)
		}
	})
}

// debugFrame parses .debug_frame on first use, which is when a PC is
// described by neither the pclntab nor .eh_frame. A Go binary's
// .debug_frame is compressed and describes the Go functions the pclntab
// already does: inflating and indexing it for every run would cost more
// memory than the rest of a backtrace.
func (im *image) debugFrame() *cfi.Table {
	im.dbgOnce.Do(func() {
		if data, _, ok := im.mod.Section(".debug_frame"); ok {
			im.dbg, _ = cfi.ParseDebugFrame(data, im.mod.Arch)
		}
	})
	return im.dbg
}

// region is one executable mapping and the image behind it.
type region struct {
	start, end uint64
	bias       uint64
	path       string
	img        *image
}

// space is a process's executable mappings, sorted by address, and the
// writable anonymous ones that may hold stacks.
type space struct {
	regions []region
	stacks  []region
}

func (s *space) find(pc uint64) *region {
	i := sort.Search(len(s.regions), func(i int) bool { return s.regions[i].end > pc })
	if i < len(s.regions) && s.regions[i].start <= pc {
		return &s.regions[i]
	}
	return nil
}

// Unwinder unwinds the threads of snapshots, caching modules by path.
type Unwinder struct {
	Arch    *arch.Arch
	Options module.Options
	// SlowGoroutineWalk walks parked goroutines (GoroutinePCs) with the
	// general walker only, frame by frame, never the fast walk of plain Go
	// frames (gofast.go): the reference the fast walk is tested against.
	SlowGoroutineWalk bool

	mu     sync.Mutex
	images map[string]*image
	spaces map[*target.Snapshot]*space // for Symbolize
}

// New returns an Unwinder for processes of the given architecture.
func New(a *arch.Arch, opts module.Options) *Unwinder {
	return &Unwinder{Arch: a, Options: opts, images: map[string]*image{}}
}

// Close releases every module.
func (u *Unwinder) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, im := range u.images {
		if im.mod != nil {
			im.mod.Close()
		}
	}
	u.images = map[string]*image{}
	u.spaces = nil
}

func (u *Unwinder) image(path string, open func() (*module.Module, error)) *image {
	u.mu.Lock()
	defer u.mu.Unlock()
	if im, ok := u.images[path]; ok {
		return im
	}
	im := &image{}
	im.mod, im.err = open()
	u.images[path] = im
	return im
}

const vdsoName = "[vdso]"

// fileImage returns the image of the file mapping m of s.
func (u *Unwinder) fileImage(s *target.Snapshot, m target.Mapping) *image {
	path, opts := u.locate(s, m)
	if path == "" {
		// The producer knows the file is missing or not the one mapped,
		// and said so: its frames stay unnamed.
		return u.image("\x00"+m.Path, func() (*module.Module, error) { return nil, nil })
	}
	return u.image(opts.Root+path, func() (*module.Module, error) { return module.Open(path, opts) })
}

// space builds the address space of a snapshot: every executable mapping of
// a file (or the vDSO, whose image the snapshot copied) with its load bias.
func (u *Unwinder) space(s *target.Snapshot) (*space, []string) {
	var sp space
	var notes []string
	for _, m := range s.Maps {
		if strings.Contains(m.Perm, "w") && (m.Path == "" || m.Path == "[stack]") {
			sp.stacks = append(sp.stacks, region{start: m.Start, end: m.End})
		}
		if !strings.Contains(m.Perm, "x") {
			continue
		}
		r := region{start: m.Start, end: m.End, path: m.Path}
		switch {
		case m.Path == vdsoName && len(s.VDSO) > 0:
			r.img = u.image(vdsoName+"@"+s.Exe, func() (*module.Module, error) {
				return module.FromBytes(vdsoName, s.VDSO, u.Options)
			})
		case strings.HasPrefix(m.Path, "/"):
			r.img = u.fileImage(s, m)
		}
		if r.img != nil && r.img.err != nil && !r.img.reported {
			notes = append(notes, r.img.err.Error())
			r.img.reported = true // say it once per Unwinder, not per frame
		}
		if r.img != nil && r.img.mod != nil {
			off := m.Offset
			if m.Path == vdsoName {
				off = 0
			}
			if b, ok := r.img.mod.Bias(m.Start, off); ok {
				r.bias = b
			}
		}
		sp.regions = append(sp.regions, r)
	}
	sort.Slice(sp.regions, func(i, j int) bool { return sp.regions[i].start < sp.regions[j].start })
	return &sp, notes
}

// locate says how to open the file a mapping names: see target.Files.
func (u *Unwinder) locate(s *target.Snapshot, m target.Mapping) (string, module.Options) {
	opts := u.Options
	path, root := s.MappedFile(m, u.Options.Root)
	opts.Root = root
	return path, opts
}
