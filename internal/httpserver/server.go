// Package httpserver runs an http.Handler on one port that speaks HTTP/1.1
// and cleartext HTTP/2 (h2c), so that REST, Connect, gRPC and gRPC-Web all
// share it. Start listens and serves in a goroutine; Stop drains.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Server is one listening HTTP server.
type Server struct {
	name string
	srv  *http.Server
	log  *slog.Logger
	ln   net.Listener
	done chan struct{}
	// serving is set by Serve, which may run on another goroutine than Stop.
	serving atomic.Bool
}

// New returns a server for handler on addr ("host:port"; port 0 picks one).
func New(name, addr string, handler http.Handler, log *slog.Logger) *Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &Server{
		name: name,
		log:  log,
		srv: &http.Server{
			Addr:              addr,
			Handler:           handler,
			Protocols:         &protocols,
			ReadHeaderTimeout: 10 * time.Second,
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

// URL is the server's base URL, once started.
func (s *Server) URL() string { return "http://" + s.Addr() }

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
