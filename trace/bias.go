package trace

import (
	"debug/elf"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taijidbg/taiji/proc"
)

// Bounds of the per-process load-bias cache. A system-wide trace (no PID)
// of a PIE sees every process that runs the binary, so the cache is
// bounded: when full, the least recently used process goes (it is learnt
// again if it shows up again).
const (
	maxBiasProcs = 1024
	// relearnAfter rate-limits re-reading a process's mappings when a
	// bias stops fitting (an exec, a PID reused): a type the binary does
	// not describe must not cost a /proc/PID/maps read per event.
	relearnAfter = time.Second
)

// biases holds the load bias of a PIE binary in each process that runs
// it, learnt from /proc/PID/maps once per process, when first needed (only
// interface values need it: their dynamic type is a run-time address). A
// bias that no longer fits (an address that names no type: the process
// exec'd the binary again under another ASLR base, or its PID was reused)
// is learnt again, at most once per relearnAfter. Non-PIE binaries have
// bias 0 and never read maps.
type biases struct {
	bin   *Binary
	pie   bool
	mu    sync.Mutex
	procs map[int]*biasEntry
	clock uint64 // counts lookups, for least-recently-used eviction
}

type biasEntry struct {
	bias    uint64
	learned time.Time
	lastUse uint64 // biases.clock at the last lookup
}

// loadBiasReads counts /proc/PID/maps reads made to learn load biases;
// tests check that a trace reads them once per process, not per event.
var loadBiasReads atomic.Int64

func newBiases(b *Binary) *biases {
	return &biases{bin: b, pie: b.ELF.Type == elf.ET_DYN, procs: map[int]*biasEntry{}}
}

// learn reads pid's bias now, replacing what was known. It returns the
// error of reading the mappings (the process is gone, no permission).
func (c *biases) learn(pid int) (uint64, error) {
	if !c.pie {
		return 0, nil
	}
	bias, err := loadBias(c.bin, pid)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(pid, &biasEntry{bias: bias, learned: time.Now()})
	return bias, nil
}

// get returns pid's bias, learning it on first use; 0 if it cannot be
// learnt (the process is gone: its interface values then name no type).
func (c *biases) get(pid int) uint64 {
	if !c.pie {
		return 0
	}
	c.mu.Lock()
	c.clock++
	e := c.procs[pid]
	if e != nil {
		e.lastUse = c.clock
	}
	c.mu.Unlock()
	if e != nil {
		return e.bias
	}
	bias, _ := c.learn(pid)
	return bias
}

// relearn is called when pid's bias does not fit: it reads the mappings
// again unless they were read less than relearnAfter ago, and reports the
// bias and whether it changed.
func (c *biases) relearn(pid int, old uint64) (uint64, bool) {
	if !c.pie {
		return old, false
	}
	c.mu.Lock()
	e := c.procs[pid]
	recent := e != nil && time.Since(e.learned) < relearnAfter
	c.mu.Unlock()
	if recent {
		return old, false
	}
	bias, err := c.learn(pid)
	if err != nil {
		return old, false
	}
	return bias, bias != old
}

// put stores e for pid, making room first if the cache is full. c.mu is
// held.
func (c *biases) put(pid int, e *biasEntry) {
	if _, ok := c.procs[pid]; !ok {
		for len(c.procs) >= maxBiasProcs {
			delete(c.procs, leastRecent(c.procs, func(e *biasEntry) uint64 { return e.lastUse }))
		}
	}
	c.clock++
	e.lastUse = c.clock
	c.procs[pid] = e
}

// loadBias finds the load bias of the binary in process pid (0 for
// non-PIE executables): the mapping of the binary's inode (its name may be
// a container's path, or end in " (deleted)").
func loadBias(b *Binary, pid int) (uint64, error) {
	loadBiasReads.Add(1)
	maps, err := proc.Maps(pid)
	if err != nil {
		return 0, err
	}
	ino, err := proc.Inode(b.Path)
	if err != nil {
		return 0, err
	}
	for _, m := range maps {
		if m.Inode != ino || !strings.HasPrefix(m.Path, "/") || !strings.Contains(m.Perm, "x") {
			continue
		}
		if bias, ok := b.Module.Bias(m.Start, m.Offset); ok {
			return bias, nil
		}
	}
	return 0, nil
}

// leastRecent returns the PID in m whose lastUse is smallest; m is not
// empty. Both per-process caches of a trace evict with it.
func leastRecent[V any](m map[int]V, lastUse func(V) uint64) int {
	lru, oldest := 0, ^uint64(0)
	for pid, v := range m {
		if u := lastUse(v); u <= oldest {
			lru, oldest = pid, u
		}
	}
	return lru
}
