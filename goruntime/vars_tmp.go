package goruntime

// TEMPORARY stand-ins for the gofind branch's FindVars and name tables;
// deleted when it merges.

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"

	"github.com/taijidbg/taiji/pclntab"
)

type Vars struct {
	Allgs, Allglen, Allm, WaitReasonStrings uint64
	From                                    string
}

func FindVars(f *elf.File, t *pclntab.Table) (Vars, error) {
	syms, err := f.Symbols()
	if err != nil {
		return Vars{}, errors.New("no symbol table")
	}
	var v Vars
	for _, s := range syms {
		switch s.Name {
		case "runtime.allgs":
			v.Allgs = s.Value
		case "runtime.allglen":
			v.Allglen = s.Value
		case "runtime.allm":
			v.Allm = s.Value
		case "runtime.waitReasonStrings":
			v.WaitReasonStrings = s.Value
		}
	}
	v.From = "symbol table"
	return v, nil
}

const (
	StatusIdle      = 0
	StatusRunnable  = 1
	StatusRunning   = 2
	StatusSyscall   = 3
	StatusWaiting   = 4
	StatusDead      = 6
	StatusCopystack = 8
	StatusPreempted = 9
	StatusLeaked    = 10
	StatusDeadExtra = 11
	StatusScan      = 0x1000
)

func StatusString(release string, status uint32) string {
	n := []string{"idle", "runnable", "running", "syscall", "waiting", "", "dead", "", "copystack", "preempted", "leaked", "waiting for cgo callback"}
	if int(status) < len(n) && n[status] != "" {
		return n[status]
	}
	return "???"
}

func WaitReasons(release string) []string { return nil }

func WaitReasonsAt(mem io.ReaderAt, addr uint64, ptrSize int, order binary.ByteOrder, n int) ([]string, error) {
	return nil, errors.New("not yet")
}
