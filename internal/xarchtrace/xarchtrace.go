// Package xarchtrace holds the end-to-end test of taiji trace on a real
// kernel of another architecture (scripts/xarch-test): the cross-built
// taiji command traces a cross-built Go program inside the VM.
package xarchtrace
