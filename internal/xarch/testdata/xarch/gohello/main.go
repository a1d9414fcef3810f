// Command gohello is the Go target program the xarch harness cross-builds
// into /targets (it is listed in ../../../xarch_targets.txt); TestTargets
// runs it inside the VM.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("gohello GOARCH=%s\n", runtime.GOARCH)
}
