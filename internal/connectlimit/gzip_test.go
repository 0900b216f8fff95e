package connectlimit

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"connectrpc.com/connect"
)

// gzipped returns n zero bytes, compressed: a tiny body that inflates a lot.
func gzipped(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipStopsOneBytePastTheCap(t *testing.T) {
	const limit = 1 << 10
	d := &cappedGzip{limit: limit}
	if err := d.Reset(bytes.NewReader(gzipped(t, 64<<20))); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, d)
	if n != limit+1 {
		t.Fatalf("inflated %d bytes, want the cap plus one (%d)", n, limit+1)
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted {
		t.Fatalf("err = %v, want resource_exhausted", err)
	}
}

func TestGzipUnderTheCapIsWhole(t *testing.T) {
	d := &cappedGzip{limit: 1 << 10}
	for range 2 { // a reset decompressor starts counting again
		if err := d.Reset(bytes.NewReader(gzipped(t, 1<<10))); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		if err != nil || len(got) != 1<<10 {
			t.Fatalf("read %d bytes, err %v; want the whole 1024", len(got), err)
		}
	}
}
