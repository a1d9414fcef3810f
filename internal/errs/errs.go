// Package errs holds the conventions every taiji package follows for its
// errors, so that callers see one style whichever package failed:
//
//   - A malformed input is reported by the package's own *FormatError type
//     (cfi.FormatError, module.FormatError, ...), as Go's debug/elf and
//     debug/dwarf do: errors.As per package keeps telling them apart. Each
//     type names the file and/or section, the offset in hex, what is wrong
//     and, when another error caused it, that cause (returned by Unwrap).
//     Their messages are made by Format, so they read alike.
//   - An operation that the architecture, kernel or build cannot perform
//     wraps errors.ErrUnsupported (see Unsupported), so one
//     errors.Is(err, errors.ErrUnsupported) matches it from any package.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Format renders a format error as one line:
//
//	pkg: file: section at offset 0x1f: msg: cause
//
// Empty file, section, msg and a nil cause are left out, and so is the
// offset when it is negative (unknown). With no section the offset is the
// file's ("file at offset 0x1f"). Offsets are always hex, as readelf and
// objdump print them.
func Format(pkg, file, section string, off int64, msg string, cause error) string {
	var b strings.Builder
	b.WriteString(pkg)
	b.WriteString(":")
	sep := " "
	if file != "" {
		b.WriteString(sep)
		b.WriteString(file)
		sep = ": "
	}
	if section != "" {
		b.WriteString(sep)
		b.WriteString(section)
		sep = ": "
	}
	if off >= 0 {
		if sep == " " { // neither file nor section: the offset stands alone
			b.WriteString(" offset")
		} else {
			b.WriteString(" at offset")
		}
		fmt.Fprintf(&b, " %#x", off)
		sep = ": "
	}
	if msg != "" {
		b.WriteString(sep)
		b.WriteString(msg)
		sep = ": "
	}
	if cause != nil {
		b.WriteString(sep)
		b.WriteString(cause.Error())
	}
	return b.String()
}

// unsupported is an error with its own message whose identity, for
// errors.Is, is errors.ErrUnsupported.
type unsupported struct{ msg string }

func (e *unsupported) Error() string { return e.msg }
func (e *unsupported) Unwrap() error { return errors.ErrUnsupported }

// Unsupported returns a sentinel error with message msg that wraps
// errors.ErrUnsupported. Each package exports its own (proc.ErrNotSupported,
// disasm.ErrUnsupported, trace.ErrUnsupported) so that errors.Is matches
// both the package's sentinel and errors.ErrUnsupported.
func Unsupported(msg string) error { return &unsupported{msg} }
