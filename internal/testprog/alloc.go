package testprog

import "runtime"

// Allocated returns the bytes fn allocates on the heap. Tests bound it
// where what is read of a binary must cost page faults on a mapping, not
// heap the size of whole sections; they must not run in parallel with
// other tests of their package, whose allocations would count too.
func Allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
