package xarch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// PrintRecording writes the files of dir to w (the VM's console, through a
// test's stdout) as base64 of a gzipped tar, between a RecordBegin and a
// RecordEnd line naming rel: the directory of the repository, relative to
// its root, that scripts/xarch-test -record fills with them on the host.
func PrintRecording(w io.Writer, dir, rel string) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var out bytes.Buffer
	fmt.Fprintf(&out, "\n%s %s\n", RecordBegin, rel)
	for len(enc) > 0 {
		n := min(len(enc), 76)
		out.WriteString(enc[:n])
		out.WriteByte('\n')
		enc = enc[n:]
	}
	fmt.Fprintf(&out, "%s %s\n", RecordEnd, rel)
	_, err = w.Write(out.Bytes())
	return err
}
