package proc

import (
	"debug/elf"
	"fmt"
	"strings"
)

// patchArea finds need bytes of executable memory in the target that no
// code runs and no code reads: the tail of the last page of an executable
// segment, past the segment's end. The kernel maps whole pages, so that
// tail holds whatever followed in the file (padding before the next,
// page-aligned segment) and is never executed. taiji plants its bootstrap
// stub there, runs it, and puts the bytes back.
func (s *Session) patchArea(need int) (uint64, error) {
	maps, err := Maps(s.Pid)
	if err != nil {
		return 0, err
	}
	var best, bestRoom uint64
	for _, m := range maps {
		if !m.Exec() || !strings.HasPrefix(m.Path, "/") {
			continue
		}
		at, room := slack(Root(s.Pid)+m.Path, m, s.page)
		if room > bestRoom {
			best, bestRoom = at, room
		}
	}
	if bestRoom < uint64(need) {
		return 0, fmt.Errorf("proc: PID %d: no executable mapping has %d unused bytes for taiji's bootstrap stub", s.Pid, need)
	}
	return best, nil
}

// slack returns where the unused tail of mapping m's executable segment
// starts (aligned to 16) and how many bytes it has.
func slack(path string, m Mapping, page uint64) (at, room uint64) {
	defer func() {
		// debug/elf must not panic on a strange file, but a target's
		// files are not ours to trust: never let one take taiji down.
		if recover() != nil {
			at, room = 0, 0
		}
	}()
	f, err := elf.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 || p.Filesz == 0 {
			continue
		}
		if p.Off&^(page-1) != m.Offset {
			continue
		}
		bias := m.Start - p.Vaddr&^(page-1)
		end := bias + p.Vaddr + p.Filesz
		// Only the part of the last page that the segment does not claim,
		// and only if the mapping covers that page.
		end = (end + 15) &^ 15
		pageEnd := (end + page - 1) &^ (page - 1)
		if end >= pageEnd || pageEnd > m.End || p.Memsz > p.Filesz {
			continue
		}
		return end, pageEnd - end
	}
	return 0, 0
}
