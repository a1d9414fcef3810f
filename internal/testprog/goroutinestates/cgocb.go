//go:build cgo

package main

import "C"

// goCallbackBlock is called from C by cgoCallbackHost (cgo.go) and blocks
// there: a goroutine parked inside a cgo callback. It lives in a file of its
// own because a file with //export may only declare C functions.
//
//export goCallbackBlock
func goCallbackBlock() {
	sink += <-never
}
