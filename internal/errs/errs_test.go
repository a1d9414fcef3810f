package errs

import (
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
