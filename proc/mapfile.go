package proc

import (
	"fmt"
	"os"
	"syscall"

	"github.com/taijidbg/taiji/target"
)

// Files returns how a snapshot of process pid opens its mapped files:
// MappedFile's way.
func Files(pid int) target.Files { return files(pid) }

// files is a live process's target.Files.
type files int

func (pid files) MappedFile(m Mapping, root string) (path, viaRoot string) {
	return MappedFile(int(pid), m, root)
}

// MappedFile says how to open, from taiji's own mount namespace, the file
// that process pid maps at m, a mapping of a file. The kernel names the
// file as the *reader's* root sees it when that root reaches it (a chroot
// inside taiji's mount namespace: a host path), else as the process's own
// mount namespace sees it (a container: reached through root, normally
// Root(pid), when the path is relative to the container's root, or not at
// all from here when it lives on a mount private to the container, or was
// deleted). /proc/PID/map_files reaches the file in every case; it comes
// last because a debug file is looked for next to the binary. The inode in
// maps tells which reading is right.
//
// The file is opened as viaRoot+path: viaRoot is "" or root. When nothing
// matches, it returns m.Path and root, for the opener to say what is wrong.
func MappedFile(pid int, m Mapping, root string) (path, viaRoot string) {
	for _, r := range []string{"", root} {
		if sameInode(r+m.Path, m.Inode) {
			return m.Path, r
		}
	}
	if mf := fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End); sameInode(mf, m.Inode) {
		return mf, ""
	}
	return m.Path, root
}

// Inode returns the inode number of the file at path (symbolic links, and
// /proc's magic links such as /proc/PID/exe, followed).
func Inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no inode", path)
	}
	return st.Ino, nil
}

func sameInode(path string, ino uint64) bool {
	i, err := Inode(path)
	return err == nil && i == ino
}
