// Command goroutinestates is the oracle target of taiji goroutines: it holds
// goroutines in known states and, on request, writes the Go runtime's own
// traceback of all of them (runtime.Stack(buf, true)), which taiji must
// reproduce goroutine by goroutine.
//
// The goroutines, each started by main unless said otherwise, and the
// function that names them in the traceback:
//
//	chanSendHost      chan send on an unbuffered channel nobody receives from
//	                  (started with arguments: the go statement's wrapper
//	                  is elided from the traceback)
//	chanRecvHost      chan receive
//	selectHost        select on two channels nobody uses
//	sleepHost         time.Sleep of an hour
//	mutexHost         sync.Mutex.Lock of a mutex main holds
//	waitGroupHost     sync.WaitGroup.Wait
//	condHost          sync.Cond.Wait
//	tcpReadHost       a read on a loopback TCP connection (netpoller: IO wait)
//	pipeReadHost      a read on an os.Pipe (netpoller: IO wait)
//	rawSyscallHost    syscall.Read on a blocking pipe: the thread sits in read(2)
//	lockedHost        runtime.LockOSThread, then a chan receive
//	busyHost          a loop that never blocks (running or runnable)
//	nestOuter         nestOuter -> nestMid (inlined) -> nestInner -> nestLeaf
//	                  (inlined) -> chan receive
//	spawnerHost       starts spawnedHost (created by spawnerHost in goroutine
//	                  N), then waits on a channel
//	genericHost[...]  a generic function waiting in a chan receive
//	func1 closure     main.main.func1 calling closureHost
//	cgoHost           (cgo builds only, cgo.go) blocked inside a C function
//	dumper            the goroutine that answers SIGUSR1 (running in the dump)
//
// and goroutine 1 (main) in select {} with no cases.
//
// It prints "ready" once its own traceback shows every goroutine parked
// (nothing runnable but busyHost) and every thread meant to sit in read(2)
// does. Each SIGUSR1 then makes it write runtime.Stack(buf, true), buf grown
// until the dump fits, to the file named by -dump (a temporary file renamed
// over it, so a reader never sees half a dump) and print "dumped". The
// garbage collector is off so that nothing but busyHost and dumper runs
// after "ready".
//
// The source builds with every Go release from go1.19 on.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	never    = make(chan int) // nobody ever sends on never or never2
	never2   = make(chan int)
	sendTo   = make(chan int) // nobody ever receives on sendTo or selectTo
	selectTo = make(chan int)
	sink     int
	busySink uint64

	heldMu  sync.Mutex // main locks it and never unlocks
	wg      sync.WaitGroup
	condMu  sync.Mutex
	cond    = sync.NewCond(&condMu)
	tcpConn net.Conn // the accepted end; the dialled end stays open too
	tcpPeer net.Conn
	pipeR   *os.File
	pipeW   *os.File
	rawFD   int
	rawWFD  int
)

// extraHosts are started after the portable ones: cgo.go adds the goroutine
// blocked in C. extraFuncs name them in the traceback; extraInRead is how
// many more threads they keep in read(2).
var (
	extraHosts  []func()
	extraFuncs  []string
	extraInRead int
)

//go:noinline
func chanSendHost(c chan int, v int) {
	c <- v
}

//go:noinline
func chanRecvHost() {
	sink += <-never
}

//go:noinline
func selectHost() {
	select {
	case v := <-never:
		sink += v
	case selectTo <- 1:
	}
}

//go:noinline
func sleepHost() {
	time.Sleep(time.Hour)
}

//go:noinline
func mutexHost() {
	heldMu.Lock()
	sink++
}

//go:noinline
func waitGroupHost() {
	wg.Wait()
}

//go:noinline
func condHost() {
	condMu.Lock()
	for {
		cond.Wait() // nobody signals
	}
}

//go:noinline
func tcpReadHost() {
	var b [1]byte
	n, _ := tcpConn.Read(b[:])
	sink += n
}

//go:noinline
func pipeReadHost() {
	var b [1]byte
	n, _ := pipeR.Read(b[:])
	sink += n
}

//go:noinline
func rawSyscallHost() {
	var b [1]byte
	n, _ := syscall.Read(rawFD, b[:])
	sink += n
}

//go:noinline
func lockedHost() {
	runtime.LockOSThread()
	sink += <-never
}

//go:noinline
func busyHost() {
	for {
		busyStep()
	}
}

//go:noinline
func busyStep() {
	for i := 0; i < 1000; i++ {
		busySink += uint64(i)
	}
}

// nestLeaf and nestMid are small enough to be inlined; nestInner and
// nestOuter are not, so the traceback shows inline and physical frames
// alternating.
func nestLeaf() int {
	return <-never + 1
}

//go:noinline
func nestInner() int {
	return nestLeaf() * 3
}

func nestMid() int {
	return nestInner() + 2
}

//go:noinline
func nestOuter() {
	sink += nestMid()
}

//go:noinline
func spawnedHost() {
	sink += <-never
}

//go:noinline
func spawnerHost() {
	go spawnedHost()
	sink += <-never2
}

//go:noinline
func genericHost[T any](c chan T) T {
	return <-c
}

//go:noinline
func closureHost() {
	sink += <-never2
}

// dumper answers each SIGUSR1 with a dump of every goroutine.
func dumper(path string, sigc chan os.Signal) {
	for range sigc {
		if err := dump(path); err != nil {
			fmt.Fprintln(os.Stderr, "goroutinestates:", err)
			os.Exit(2)
		}
		fmt.Println("dumped")
	}
}

// dump writes runtime.Stack(buf, true) to path, atomically.
func dump(path string) error {
	// os/signal's own goroutine woke up to deliver the signal: let it
	// park again, so that the dump shows it as taiji will see it.
	time.Sleep(20 * time.Millisecond)
	tb := stackAll()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, tb, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// stackAll returns runtime.Stack(buf, true), growing buf until it fits.
func stackAll() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// parked reports whether the traceback shows every host function, and no
// goroutine runnable or running but busyHost and the caller.
func parked(want []string) bool {
	tb := stackAll()
	for _, fn := range want {
		if !bytes.Contains(tb, []byte(fn+"(")) {
			return false
		}
	}
	for i, g := range strings.Split(string(tb), "\n\n") {
		if i == 0 || strings.Contains(g, "main.busyHost(") {
			continue // the first one is the caller, running
		}
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[runnable") || strings.Contains(header, "[running") {
			return false
		}
	}
	return true
}

// threadsInRead counts the threads of this process asleep in read(2), as
// /proc/self/task/*/syscall and stat show them.
func threadsInRead() int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/syscall")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] != fmt.Sprint(syscall.SYS_READ) {
			continue
		}
		st, err := os.ReadFile("/proc/self/task/" + t.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i:], ") S") {
			n++
		}
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goroutinestates:", err)
	os.Exit(2)
}

func main() {
	dumpPath := flag.String("dump", "", "file to write runtime.Stack(buf, true) to on each SIGUSR1")
	flag.Parse()
	if *dumpPath == "" {
		fail(fmt.Errorf("-dump FILE is required"))
	}
	debug.SetGCPercent(-1)

	// The signal goroutine first: os/signal starts its own goroutine, which
	// then parks like the others.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGUSR1)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	if tcpPeer, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		fail(err)
	}
	if tcpConn, err = ln.Accept(); err != nil {
		fail(err)
	}
	ln.Close()
	if pipeR, pipeW, err = os.Pipe(); err != nil {
		fail(err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil { // blocking, unlike os.Pipe
		fail(err)
	}
	rawFD, rawWFD = p[0], p[1]

	heldMu.Lock()
	wg.Add(1)

	go chanSendHost(sendTo, 42)
	go chanRecvHost()
	go selectHost()
	go sleepHost()
	go mutexHost()
	go waitGroupHost()
	go condHost()
	go tcpReadHost()
	go pipeReadHost()
	go rawSyscallHost()
	go lockedHost()
	go busyHost()
	go nestOuter()
	go spawnerHost()
	go genericHost(never)
	go func() {
		closureHost()
	}()
	for _, h := range extraHosts {
		go h()
	}
	go dumper(*dumpPath, sigc)

	want := []string{
		"main.chanSendHost", "main.chanRecvHost", "main.selectHost", "main.sleepHost",
		"main.mutexHost", "main.waitGroupHost", "main.condHost", "main.tcpReadHost",
		"main.pipeReadHost", "main.rawSyscallHost", "main.lockedHost", "main.busyHost",
		"main.nestLeaf", "main.spawnedHost", "main.spawnerHost", "main.genericHost[...]",
		"main.closureHost", "main.dumper",
	}
	want = append(want, extraFuncs...)
	for !parked(want) || threadsInRead() < 1+extraInRead {
		time.Sleep(time.Millisecond)
	}
	// Stopping the world for runtime.Stack can wake or start threads: let
	// them settle before saying ready.
	time.Sleep(100 * time.Millisecond)
	for !parked(want) || threadsInRead() < 1+extraInRead {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("ready")
	select {}
}
