package gdboracle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// EuStack returns elfutils' view of every thread of pid, from
// `eu-stack -p PID -v -n 0` (inline frames, modules, source lines, no frame
// limit), sorted by TID. SP is not reported.
//
// eu-stack does not mark inline frames; a frame is typed "inline" when the
// next-outer frame has the same PC and a different function or source line
// (recursive calls share both, so they stay "normal"). eu-stack's complaints
// about a thread (e.g. "No DWARF information found" for the junk frame that
// ends a Go thread) become that thread's StopReason.
func EuStack(pid int) ([]Thread, error) {
	ts, _, err := EuStackOutput(pid)
	return ts, err
}

// EuStackOutput is EuStack also returning eu-stack's stdout and stderr, for
// failure messages.
func EuStackOutput(pid int) ([]Thread, []byte, error) {
	bin, err := exec.LookPath("eu-stack")
	if err != nil {
		return nil, nil, fmt.Errorf("eu-stack: %w (apt-get install -y elfutils)", ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-p", strconv.Itoa(pid), "-v", "-n", "0")
	cmd.Env = append(os.Environ(), "DEBUGINFOD_URLS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	all := append(append([]byte{}, stdout.Bytes()...), stderr.Bytes()...)
	threads, err := parseEuStack(stdout.Bytes(), stderr.Bytes())
	if err != nil {
		return threads, all, fmt.Errorf("eu-stack -p %d: %v", pid, err)
	}
	// Exit status 1 means "some frames shown, with errors": normal for Go.
	if len(threads) == 0 {
		return nil, all, fmt.Errorf("eu-stack -p %d: no threads (%v): %s", pid, runErr, lastLines(all, 5))
	}
	return threads, all, nil
}

var (
	euTID   = regexp.MustCompile(`^TID (\d+):$`)
	euFrame = regexp.MustCompile(`^#(\d+)\s+0x([0-9a-f]+)(?: - 1)?\s*(.*)$`)
	euErr   = regexp.MustCompile(`\btid (\d+)\b`)
)

// parseEuStack parses eu-stack -v output.
func parseEuStack(stdout, stderr []byte) ([]Thread, error) {
	var threads []Thread
	var cur *Thread
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := euTID.FindStringSubmatch(line); m != nil {
			tid, _ := strconv.Atoi(m[1])
			threads = append(threads, Thread{TID: tid, StopReason: "outermost"})
			cur = &threads[len(threads)-1]
			continue
		}
		if cur == nil {
			continue // "PID n - process"
		}
		if m := euFrame.FindStringSubmatch(line); m != nil {
			pc, err := strconv.ParseUint(m[2], 16, 64)
			if err != nil {
				return threads, fmt.Errorf("bad pc in %q", line)
			}
			f := Frame{PC: pc, Function: "??", Type: "normal"}
			rest := m[3]
			if i := strings.LastIndex(rest, " - "); i >= 0 {
				f.Module = strings.TrimSpace(rest[i+3:])
				rest = rest[:i]
			}
			if rest = strings.TrimSpace(rest); rest != "" {
				f.Function = rest
			}
			cur.Frames = append(cur.Frames, f)
			continue
		}
		if strings.HasPrefix(line, "    ") && len(cur.Frames) > 0 {
			// Source line: file:line[:column]
			fr := &cur.Frames[len(cur.Frames)-1]
			fr.File, fr.Line = splitSource(strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		return threads, err
	}
	for i := range threads {
		fs := threads[i].Frames
		for j := 0; j+1 < len(fs); j++ {
			if fs[j].PC == fs[j+1].PC &&
				(fs[j].Function != fs[j+1].Function || fs[j].File != fs[j+1].File || fs[j].Line != fs[j+1].Line) {
				fs[j].Type = "inline"
			}
		}
	}
	for _, line := range strings.Split(string(stderr), "\n") {
		m := euErr.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[1])
		if t := Find(threads, tid); t != nil {
			t.StopReason = strings.TrimPrefix(line, "eu-stack: ")
		}
	}
	sortThreads(threads)
	return threads, nil
}

// splitSource splits "file:line:col" or "file:line".
func splitSource(s string) (string, int) {
	parts := strings.Split(s, ":")
	nums := 0
	for nums < 2 && len(parts)-nums > 1 {
		if _, err := strconv.Atoi(parts[len(parts)-1-nums]); err != nil {
			break
		}
		nums++
	}
	if nums == 0 {
		return s, 0
	}
	file := strings.Join(parts[:len(parts)-nums], ":")
	line, _ := strconv.Atoi(parts[len(parts)-nums])
	return file, line
}
