package errs

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		file, section string
		off           int64
		msg           string
		cause         error
		want          string
	}{
		{"", ".eh_frame", 0x1f, "bad CIE", nil, "p: .eh_frame at offset 0x1f: bad CIE"},
		{"/bin/x", ".debug_info", -1, "", io.ErrUnexpectedEOF, "p: /bin/x: .debug_info: unexpected EOF"},
		{"/bin/x", "", -1, "not a valid ELF file", io.EOF, "p: /bin/x: not a valid ELF file: EOF"},
		{"/proc/1/stat", "", 0, "no state field", nil, "p: /proc/1/stat at offset 0x0: no state field"},
		{"", "", 12, "truncated", nil, "p: offset 0xc: truncated"},
	} {
		if got := Format("p", c.file, c.section, c.off, c.msg, c.cause); got != c.want {
			t.Errorf("Format(%q, %q, %d, %q, %v) = %q, want %q", c.file, c.section, c.off, c.msg, c.cause, got, c.want)
		}
	}
}

func TestUnsupported(t *testing.T) {
	e := Unsupported("x: not supported")
	wrapped := fmt.Errorf("doing y: %w", e)
	if e.Error() != "x: not supported" || !errors.Is(wrapped, e) || !errors.Is(wrapped, errors.ErrUnsupported) {
		t.Errorf("%v: want its own text, matching itself and errors.ErrUnsupported", wrapped)
	}
	if errors.Is(wrapped, Unsupported("x: not supported")) {
		t.Errorf("two sentinels with the same text must stay distinct")
	}
}
