package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestStackContainerised: /proc/PID/maps names a file as taiji's own root
// sees it when it can (a chroot in taiji's mount namespace), else as the
// process's mount namespace does (a container whose files sit on a mount of
// its own, which the host cannot see). taiji must find the file either way.
// The target runs chrooted, with its own /proc, in a mount namespace of its
// own, from a root where /bin/native exists and the host has none.
func TestStackContainerised(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not installed")
	}
	if _, err := os.Stat("/bin/native"); err == nil {
		t.Skip("/bin/native exists on the host: the test could not tell the roots apart")
	}
	bin := testprog.BuildC(t, "native", "-static")
	for _, tc := range []struct{ name, setup string }{
		// The binary on the same file system as the host sees it.
		{"chroot", `cp "$BIN" "$ROOT/bin/native"`},
		// The binary on a tmpfs mounted in the container only.
		{"private-mount", `mount -t tmpfs tmpfs "$ROOT/bin" && cp "$BIN" "$ROOT/bin/native"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"bin", "proc"} {
				if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			script := tc.setup + ` && mount -t proc proc "$ROOT/proc" && exec chroot "$ROOT" /bin/native`
			cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
			cmd.Env = append(os.Environ(), "BIN="+bin, "ROOT="+root)
			p := testprog.StartCmd(t, cmd) // sh and chroot exec: one PID throughout
			checkNativeThreads(t, stackJSON(t, p.Pid, "--max-frames", "0"))
		})
	}
}
