package httpserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// goroutineID is the id of the calling goroutine, read from its stack
// header ("goroutine 42 [running]:"): tests only.
func goroutineID() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(string(buf))
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

// h2Request is a request as net/http hands an HTTP/2 stream to a handler.
func h2Request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	return r
}

func TestWarmGoroutinesServeHTTP2OnALongLivedGoroutine(t *testing.T) {
	var served []uint64
	h := withWarmGoroutines(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served = append(served, goroutineID())
		_, _ = io.WriteString(w, "ok")
	}), 4)
	caller := goroutineID()
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, h2Request())
		if rec.Body.String() != "ok" {
			t.Fatalf("answer %q, want ok", rec.Body)
		}
	}
	if served[0] == caller || served[1] != served[0] || served[2] != served[0] {
		t.Fatalf("requests served on goroutines %v (caller %d), want one warm goroutine, not the caller's", served, caller)
	}
}

func TestWarmGoroutinesLeaveHTTP1OnItsConnectionGoroutine(t *testing.T) {
	var got uint64
	h := withWarmGoroutines(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = goroutineID() }), 4)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if caller := goroutineID(); got != caller {
		t.Fatalf("HTTP/1 request served on goroutine %d, want the caller's %d", got, caller)
	}
}

func TestWarmGoroutinesWhenAllBusyServeOnTheRequestsGoroutine(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var mu sync.Mutex
	var ids []uint64
	h := withWarmGoroutines(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, goroutineID())
		mu.Unlock()
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
	}), 1)
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		r := h2Request()
		r.URL.Path = "/block"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	<-entered
	// The one warm goroutine is busy: this request must not wait for it.
	done := make(chan uint64)
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), h2Request())
		done <- goroutineID()
	}()
	select {
	case caller := <-done:
		mu.Lock()
		last := ids[len(ids)-1]
		mu.Unlock()
		if last != caller {
			t.Errorf("served on goroutine %d, want the request's own %d", last, caller)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request waited for the busy warm goroutine")
	}
	close(release)
	<-blocked
}

func TestWarmGoroutinesRaiseAHandlersPanicOnTheRequestsGoroutine(t *testing.T) {
	for _, c := range []struct {
		name  string
		value any
	}{{"abort", http.ErrAbortHandler}, {"other", "boom"}} {
		t.Run(c.name, func(t *testing.T) {
			h := withWarmGoroutines(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					panic(c.value)
				}
			}), 1)
			got := func() (v any) {
				defer func() { v = recover() }()
				r := h2Request()
				r.URL.Path = "/panic"
				h.ServeHTTP(httptest.NewRecorder(), r)
				return nil
			}()
			switch {
			case c.value == http.ErrAbortHandler && got != http.ErrAbortHandler:
				t.Fatalf("recovered %v, want http.ErrAbortHandler itself (net/http then logs nothing)", got)
			case c.value != http.ErrAbortHandler && !strings.Contains(fmt.Sprint(got), "boom") || c.value != http.ErrAbortHandler && !strings.Contains(fmt.Sprint(got), "warm_test.go"):
				t.Fatalf("recovered %v, want the value and the stack where it happened", got)
			}
			// The warm goroutine survived and serves the next request.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, h2Request())
			if rec.Code != http.StatusOK {
				t.Fatalf("after the panic: %d", rec.Code)
			}
		})
	}
}

// BenchmarkWarmGoroutines serves a handler as deep as a fetch (a Connect
// call into the MongoDB driver grows a new goroutine's stack two or three
// times) on a goroutine per stream, as net/http does, and on warm
// goroutines; compare the two as a ratio.
func BenchmarkWarmGoroutines(b *testing.B) {
	deep := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, recurse(200))
	})
	for _, c := range []struct {
		name string
		n    int
	}{{"goroutine-per-stream", 0}, {"warm", DefaultWarmGoroutines}} {
		b.Run(c.name, func(b *testing.B) {
			h := withWarmGoroutines(deep, c.n)
			r := h2Request()
			b.ReportAllocs()
			for b.Loop() {
				done := make(chan struct{})
				go func() { // net/http's goroutine per stream
					defer close(done)
					h.ServeHTTP(discardWriter{}, r)
				}()
				<-done
			}
		})
	}
}

// recurse uses about 200 bytes of stack per level.
//
//go:noinline
func recurse(n int) int {
	var pad [24]int
	pad[n%24] = n
	if n == 0 {
		return pad[0]
	}
	return recurse(n-1) + pad[n%24]
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}
