package ports

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkEdgeWrite serves one AddItem through the whole edge in-process,
// over REST (transcoded into the pipeline by an in-process Connect client)
// and over Connect JSON; compare the two as a ratio.
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
