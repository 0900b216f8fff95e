// Package stacktest starts the whole platform for a test: embedded backends
// on random loopback ports, a temporary data directory, fast heartbeats, and
// a cleanup that stops it all. End-to-end tests of any package use it.
package stacktest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/services/devstack/stack"
)

// Start runs the platform with cfg, overriding its addresses and data
// directory; the logs reach t at warn level in verbose runs.
func Start(t testing.TB, cfg stack.Config) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.HTTPAddr, cfg.DataDir, cfg.KafkaAddr, cfg.MongoAddr = "127.0.0.1:0", t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClusterAddr = "127.0.0.1:0"
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	s, err := stack.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Client is an HTTP client of the stack's public API that sends the stack's
// API key with every request, as a configured caller does.
func Client(s *stack.Stack) *http.Client {
	return &http.Client{Transport: Bearer(s.APIKey(), http.DefaultTransport)}
}

// Bearer wraps base so that every request carries "Authorization: Bearer
// <key>" (unless it already has an Authorization header): the generated
// Connect clients over it send the key on every protocol.
func Bearer(key string, base http.RoundTripper) http.RoundTripper {
	return bearer{key: key, base: base}
}

type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change its request
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
	return b.base.RoundTrip(r)
}
