package connectlimit

import "net/http"

// envelopeSlack is what a request body may hold besides its message: the
// 5-byte gRPC / Connect envelope prefix, with room to spare.
const envelopeSlack = 1 << 10

// Body caps the bytes read from every request body at maxBytes plus the
// envelope's few bytes. Connect's WithReadMaxBytes alone bounds the memory a
// message takes but then reads the rest of an oversized body to the end to
// report its size: a 100 MB body would still be received whole. Past the
// cap the read fails (Connect answers resource_exhausted) and the server
// closes the connection instead of draining it.
func Body(h http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes+envelopeSlack)
		h.ServeHTTP(w, r)
	})
}
