// Package httpserver runs an http.Handler on one port that speaks HTTP/1.1
// and cleartext HTTP/2 (h2c), so that REST, Connect, gRPC and gRPC-Web all
// share it; with WithTLS (or WithTLSConfig) the port speaks TLS instead, with
// HTTP/2 negotiated by ALPN. Start listens and serves in a goroutine; Stop
// drains.
//
// Every server gets the listener-level protections by default, so that a
// service is safe without configuring anything: a deadline on reading request
// headers and on reading each request body (a client that trickles its body
// is cut off), and a cap on open connections. Options change them.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// The defaults of the listener-level protections.
const (
	// DefaultBodyReadTimeout bounds reading one request body: a 1 MiB body
	// over a slow 1 Mbit/s link takes about 8 s.
	DefaultBodyReadTimeout = 10 * time.Second
	// DefaultMaxConnections caps open connections per listener: well under
	// the usual 65536 file descriptors, far above what a few hundred
	// keep-alive clients need.
	DefaultMaxConnections = 4096
	// DefaultReadHeaderTimeout bounds reading the request line and headers.
	DefaultReadHeaderTimeout = 10 * time.Second
)

// Option changes a protection of New's server.
type Option func(*options)

type options struct {
	bodyReadTimeout time.Duration
	maxConnections  int
	exempt          func(*http.Request) bool
	warmGoroutines  int
	tlsFiles        TLSFiles
	tlsConfig       *tls.Config
}

// WithBodyReadTimeout sets how long a handler may take to read a request's
// body, counted from the start of the handler; 0 turns the deadline off.
func WithBodyReadTimeout(d time.Duration) Option {
	return func(o *options) { o.bodyReadTimeout = d }
}

// WithMaxConnections caps the connections open at once on the listener;
// further clients wait in the kernel's accept queue. 0 means no cap.
func WithMaxConnections(n int) Option {
	return func(o *options) { o.maxConnections = n }
}

// WithBodyTimeoutExempt names requests whose bodies are long-lived streams
// that the body-read deadline must not cut (the default exempts gRPC
// reflection, a bidirectional stream that grpcurl keeps open).
func WithBodyTimeoutExempt(exempt func(*http.Request) bool) Option {
	return func(o *options) { o.exempt = exempt }
}

// WithWarmGoroutines sets how many long-lived goroutines serve HTTP/2
// requests (warm.go: a new goroutine per stream grows its stack on every
// deep call); 0 serves each stream on its own new goroutine, as net/http
// does.
func WithWarmGoroutines(n int) Option {
	return func(o *options) { o.warmGoroutines = n }
}

// IsReflection reports gRPC server reflection calls, streams that may stay
// open for as long as a client browses the API.
func IsReflection(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/grpc.reflection.")
}

// Server is one listening HTTP server.
type Server struct {
	name string
	opts options
	srv  *http.Server
	log  *slog.Logger
	ln   net.Listener
	done chan struct{}
	// serving is set by Serve, which may run on another goroutine than Stop.
	serving atomic.Bool
}

// New returns a server for handler on addr ("host:port"; port 0 picks one),
// with the default protections changed by opts.
func New(name, addr string, handler http.Handler, log *slog.Logger, opts ...Option) *Server {
	o := options{bodyReadTimeout: DefaultBodyReadTimeout, maxConnections: DefaultMaxConnections, exempt: IsReflection,
		warmGoroutines: DefaultWarmGoroutines}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bodyReadTimeout > 0 {
		handler = WithBodyDeadline(handler, o.bodyReadTimeout, o.exempt)
	}
	handler = withWarmGoroutines(handler, o.warmGoroutines)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if o.tls() {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	return &Server{
		name: name,
		opts: o,
		log:  log,
		srv: &http.Server{
			Addr:              addr,
			Handler:           handler,
			Protocols:         &protocols,
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
}

// Start listens, then serves in a goroutine. A listen error (port taken) is
// returned here, so that the application fails to start instead of running
// without its server.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	s.Serve()
	return nil
}

// Listen binds the address without serving yet, so that the final address
// is known (port 0) before the server is announced anywhere.
func (s *Server) Listen(context.Context) error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", s.name, s.srv.Addr, err)
	}
	if s.opts.maxConnections > 0 {
		ln = netutil.LimitListener(ln, s.opts.maxConnections)
	}
	if s.opts.tls() {
		cfg, err := s.serverTLSConfig()
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("%s: %w", s.name, err)
		}
		ln = tls.NewListener(ln, cfg)
	}
	s.ln = ln
	return nil
}

// Serve serves the bound listener in a goroutine; call Listen first.
func (s *Server) Serve() {
	s.serving.Store(true)
	s.log.Info("serving", "server", s.name, "addr", s.ln.Addr().String())
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "server", s.name, "err", err)
		}
	}()
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.srv.Addr
	}
	return s.ln.Addr().String()
}

// URL is the server's base URL, once started: https:// when it serves TLS.
func (s *Server) URL() string {
	if s.opts.tls() {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Stop stops accepting connections and waits for in-flight requests until
// ctx ends; then it closes what is left.
func (s *Server) Stop(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	if !s.serving.Load() {
		return s.ln.Close()
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("%s: shutdown: %w", s.name, err)
	}
	return nil
}

// WithBodyDeadline gives every request that has a body a read deadline of
// timeout from the start of its handler (HTTP/1 and HTTP/2 alike, through
// http.ResponseController): a body trickled slower than that fails to read
// with a timeout error, so a slow client cannot hold a handler. The deadline
// is lifted once the body has been read to its end, so that a long handler
// (or HTTP/1's wait for the client closing) is not cut by it. Requests
// without a body, and those exempt reports, get no deadline.
func WithBodyDeadline(next http.Handler, timeout time.Duration, exempt func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || (exempt != nil && exempt(r)) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			next.ServeHTTP(w, r) // a writer that cannot take deadlines (tests)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body has been read to EOF.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = ErrBodyTimeout // without the connection's addresses, which handlers may echo
	}
	return n, err
}

// ErrBodyTimeout is the read error of a body that did not arrive within the
// body read deadline. It is an os.ErrDeadlineExceeded and a net.Error
// timeout, and names no addresses.
var ErrBodyTimeout error = bodyTimeoutError{}

type bodyTimeoutError struct{}

func (bodyTimeoutError) Error() string {
	return "the request body did not arrive within the body read deadline"
}
func (bodyTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
func (bodyTimeoutError) Timeout() bool        { return true }
func (bodyTimeoutError) Temporary() bool      { return false }
