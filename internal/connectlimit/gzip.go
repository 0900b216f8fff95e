// Package connectlimit bounds what a Connect handler reads from a request:
// the bytes on the wire and the bytes a compressed message inflates to. The
// dispatcher's public API and the workers' RPC port use the same caps.
package connectlimit

import (
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// Gzip replaces Connect's gzip with one whose decompressor fails with
// resource_exhausted as soon as a message inflates past maxBytes. Connect's
// own, given WithReadMaxBytes, stops keeping the bytes past the cap but goes
// on inflating to the end to report the size: a 1 MB gzip bomb costs half a
// second of CPU and a gigabyte of reads per request. Responses are still
// compressed with the standard gzip.
func Gzip(maxBytes int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &cappedGzip{limit: maxBytes} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}

// cappedGzip is a gzip decompressor that yields at most limit+1 bytes (one
// past the cap, so that Connect sees the cap is passed), then fails.
type cappedGzip struct {
	gz    gzip.Reader
	limit int64
	n     int64
}

func (c *cappedGzip) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, c.tooLarge()
	}
	// Never inflate more than one byte past the cap.
	if room := c.limit - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.gz.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, c.tooLarge()
	}
	return n, err
}

func (c *cappedGzip) tooLarge() error {
	return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("the request inflates past the %d-byte limit", c.limit))
}

// Reset implements connect.Decompressor.
func (c *cappedGzip) Reset(r io.Reader) error {
	c.n = 0
	return c.gz.Reset(r)
}

// Close implements connect.Decompressor.
func (c *cappedGzip) Close() error { return c.gz.Close() }
