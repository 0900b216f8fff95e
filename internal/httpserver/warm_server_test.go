package httpserver_test

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pawnshop/auction/internal/httpserver"
)

// TestWarmGoroutinesOverH2C runs the pool where it matters, a server's
// HTTP/2 streams: by default, streams sent one after another are served on
// one warm goroutine; without the pool, each on its own.
func TestWarmGoroutinesOverH2C(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []httpserver.Option
		want func(goroutines int) bool
	}{
		{"default", nil, func(n int) bool { return n == 1 }},
		{"off", []httpserver.Option{httpserver.WithWarmGoroutines(0)}, func(n int) bool { return n > 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			ids := map[string]int{}
			s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, 64)
				id := strings.Fields(string(buf[:runtime.Stack(buf, false)]))[1]
				mu.Lock()
				ids[id]++
				mu.Unlock()
				_, _ = io.WriteString(w, r.Proto)
			}), c.opts...)
			var h2c http.Protocols
			h2c.SetUnencryptedHTTP2(true)
			client := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
			t.Cleanup(client.CloseIdleConnections)
			for range 5 {
				got, err := get(t, client, s.URL()+"/")
				if err != nil {
					t.Fatal(err)
				}
				if got != "HTTP/2.0" {
					t.Fatalf("served over %q, want HTTP/2.0", got)
				}
			}
			if !c.want(len(ids)) {
				t.Fatalf("5 sequential streams served on %d goroutines (%v)", len(ids), ids)
			}
		})
	}
}
