package ports

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"

	"connectrpc.com/connect"
)

// envelopeSlack is what a request body may hold besides its message: the
// 5-byte gRPC / Connect envelope prefix, with room to spare.
const envelopeSlack = 1 << 10

// LimitBody caps the bytes read from every request body at maxBytes plus
// the envelope's few bytes. Connect's WithReadMaxBytes alone bounds the
// memory a message takes but then reads the rest of an oversized body to
// the end to report its size: a 100 MB body would still be received whole.
// Past the cap the read fails (Connect answers resource_exhausted) and the
// server closes the connection instead of draining it.
func LimitBody(h http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes+envelopeSlack)
		h.ServeHTTP(w, r)
	})
}

// CappedGzip replaces Connect's gzip with one whose decompressor fails as
// soon as a message inflates past maxBytes. Connect's own, given
// WithReadMaxBytes, stops keeping the bytes past the cap but goes on
// inflating to the end to report the size: a 1 MB bomb costs a second of
// CPU per request. Responses are still compressed with the standard gzip.
func CappedGzip(maxBytes int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &cappedGzip{limit: maxBytes} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}

// cappedGzip is a gzip decompressor that yields at most limit bytes, then
// fails with resource_exhausted.
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
	return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("message inflates past the %d-byte limit", c.limit))
}

// Reset implements connect.Decompressor.
func (c *cappedGzip) Reset(r io.Reader) error {
	c.n = 0
	return c.gz.Reset(r)
}

// Close implements connect.Decompressor.
func (c *cappedGzip) Close() error { return c.gz.Close() }
