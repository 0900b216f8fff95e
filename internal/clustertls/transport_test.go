package clustertls_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/httpserver"
)

// TestTransportKeepsConnections: calls over Transport speak HTTP/1.1 on
// connections that are kept and used again, one per call in flight: after
// a first wave of calls at once, waves as large dial nothing, so a call
// pays a TLS handshake only when more calls than ever before run at once.
func TestTransportKeepsConnections(t *testing.T) {
	p := newPKI(t)
	const inFlight = 8
	// The server holds each call of a wave until the whole wave arrived,
	// so that its calls are in flight at once.
	var mu sync.Mutex
	gate := make(chan struct{})
	arrived := make(chan struct{}, inFlight)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wave" {
			mu.Lock()
			g := gate
			mu.Unlock()
			arrived <- struct{}{}
			select {
			case <-g:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprint(w, "ok")
	})
	s := httpserver.New("test", "127.0.0.1:0", clustertls.WithPeer(h), discard, p.member(worker1).ServerOptions()...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	c := client(p.member(dispatcher).ClientConfig(clustertls.Expect(worker1)))
	t.Cleanup(c.CloseIdleConnections)

	var dialed atomic.Int64
	call := func(path string) error {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if !info.Reused {
				dialed.Add(1)
			}
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, s.URL()+path, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return err
		}
		if res.ProtoMajor != 1 {
			return fmt.Errorf("served over %s, want HTTP/1.1", res.Proto)
		}
		return nil
	}

	for range 20 {
		if err := call("/"); err != nil {
			t.Fatal(err)
		}
	}
	if n := dialed.Load(); n != 1 {
		t.Fatalf("20 calls one after another opened %d connections, want 1", n)
	}

	for wave := range 5 {
		mu.Lock()
		gate = make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				if err := call("/wave"); err != nil {
					t.Error(err)
				}
			})
		}
		for range inFlight {
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatalf("wave %d: not all %d calls reached the server at once", wave, inFlight)
			}
		}
		mu.Lock()
		close(gate)
		mu.Unlock()
		wg.Wait()
	}
	if n := dialed.Load(); n != inFlight {
		t.Errorf("5 waves of %d calls at once, after 20 calls one by one, opened %d connections in all, want %d", inFlight, n, inFlight)
	}
}
