package httpserver

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
)

// DefaultWarmGoroutines is how many long-lived goroutines serve a server's
// HTTP/2 requests (WithWarmGoroutines): more than the streams a service
// has in flight at once in normal operation (a worker serves a few
// dispatchers' reads, each capped at a few in flight), so that calls beyond
// them are the exception.
const DefaultWarmGoroutines = 64

// warmResetAfter is how many requests a warm goroutine serves before it
// exits and a new one takes its place: a goroutine whose stack grew for one
// unusually deep request keeps it until then (gRPC-Go's stream workers do
// the same).
const warmResetAfter = 1 << 16

// withWarmGoroutines serves HTTP/2 requests with next on up to n long-lived
// goroutines, the most recently used first.
//
// Why: net/http starts a new goroutine for every HTTP/2 stream, with the
// runtime's small starting stack. A handler as deep as a Connect call into
// the MongoDB driver then grows that stack two or three times, and every
// growth copies the stack frame by frame: in a worker's fetch, about 30 µs
// of CPU per call, as much as the rest of its RPC handling (read scenario
// profile of cmd/bench). A goroutine that has served a call already has the
// stack the next one needs. The hand-over costs two channel operations.
//
// HTTP/1 requests are served as they come: net/http serves a connection's
// requests one after another on one goroutine, whose stack is already warm.
// When all n goroutines are busy a request runs on its own goroutine as
// before: nothing waits for a warm one. A handler's panic is raised again
// on the request's own goroutine, where net/http handles it as usual
// (http.ErrAbortHandler included).
func withWarmGoroutines(next http.Handler, n int) http.Handler {
	if n <= 0 {
		return next
	}
	p := &warmPool{next: next, max: n}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 2 {
			next.ServeHTTP(w, r)
			return
		}
		p.serve(w, r)
	})
}

// warmPool hands requests to idle warm goroutines.
type warmPool struct {
	next http.Handler
	max  int

	mu      sync.Mutex
	idle    []*warmGoroutine // a stack: the last one pushed ran last, its stack is the warmest
	running int              // warm goroutines alive, idle or busy
}

// warmGoroutine is one long-lived goroutine and its mailbox.
type warmGoroutine struct {
	calls chan warmCall
}

// warmCall is one request handed to a warm goroutine; done gets the
// handler's panic, or nil.
type warmCall struct {
	w    http.ResponseWriter
	r    *http.Request
	done chan any
}

// handlerPanic is a handler's panic caught on a warm goroutine, with the
// stack where it happened (the request's goroutine only knows its own).
type handlerPanic struct {
	value any
	stack []byte
}

func (p handlerPanic) String() string { return fmt.Sprintf("%v\n%s", p.value, p.stack) }

func (p *warmPool) serve(w http.ResponseWriter, r *http.Request) {
	g := p.take()
	if g == nil {
		p.next.ServeHTTP(w, r) // all busy: this goroutine, as without the pool
		return
	}
	done := make(chan any, 1)
	g.calls <- warmCall{w: w, r: r, done: done}
	if v := <-done; v != nil {
		if hp, ok := v.(handlerPanic); ok && hp.value == http.ErrAbortHandler {
			panic(http.ErrAbortHandler)
		}
		panic(v)
	}
}

// take returns an idle warm goroutine, starting one while fewer than max
// run, or nil when all max are busy.
func (p *warmPool) take() *warmGoroutine {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		g := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		return g
	}
	if p.running >= p.max {
		return nil
	}
	p.running++
	g := &warmGoroutine{calls: make(chan warmCall)}
	go p.run(g)
	return g
}

// run serves calls until warmResetAfter of them, then leaves its place to
// a new goroutine with a fresh stack. It is idle again before its caller
// learns the call is done, so that a client's next call finds it.
func (p *warmPool) run(g *warmGoroutine) {
	for served := 1; ; served++ {
		c := <-g.calls
		result := p.call(c)
		p.mu.Lock()
		last := served >= warmResetAfter
		if last {
			p.running--
		} else {
			p.idle = append(p.idle, g)
		}
		p.mu.Unlock()
		c.done <- result // buffered: never blocks
		if last {
			return
		}
	}
}

// call serves one request, returning its panic (nil when it returned).
func (p *warmPool) call(c warmCall) (panicked any) {
	defer func() {
		if v := recover(); v != nil {
			panicked = handlerPanic{value: v, stack: debug.Stack()}
		}
	}()
	p.next.ServeHTTP(c.w, c.r)
	return nil
}
