package ports

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkEdgeWrite serves one AddItem through the whole edge in-process,
// over REST (grpc-gateway hands the decoded message to the pipeline) and
// over Connect JSON; compare the two as a ratio.
func BenchmarkEdgeWrite(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	for _, c := range []struct{ name, path string }{{"rest", "/item/add"}, {"connect", connectAdd}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", c.path, strings.NewReader(validAdd))
				req.Header.Set("Content-Type", jsonType)
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK && rec.Code != http.StatusAccepted {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkEdgeRead serves one GetItem through the whole edge in-process,
// over REST and over Connect JSON, with the worker's answer from memory: the
// dispatcher's own cost of a read, which the read scenario of cmd/bench
// measures only together with the network hops and the database.
func BenchmarkEdgeRead(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	for _, c := range []struct{ name, method, path, body string }{
		{"rest", "GET", restGet, ""},
		{"connect", "POST", connectGet, `{"id":"ring-1"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var body io.Reader // nil: no body, as the server sees a GET
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				req := httptest.NewRequest(c.method, c.path, body)
				if c.body != "" {
					req.Header.Set("Content-Type", jsonType)
				}
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
