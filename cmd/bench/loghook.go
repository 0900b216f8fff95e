package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// logHook is the platform's logger in the harness: it drops the logs (or
// prints warnings and errors with -v) and notes when each worker's consumer
// got its first partitions, the moment its ingest can start.
type logHook struct {
	shared *hookState
	attrs  []slog.Attr
}

type hookState struct {
	mu       sync.Mutex
	assigned map[string]time.Time
	out      io.Writer // nil: drop
}

func newLogHook(out io.Writer) *logHook {
	return &logHook{shared: &hookState{assigned: map[string]time.Time{}, out: out}}
}

func (h *logHook) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *logHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "partitions assigned" {
		for _, a := range h.attrs {
			if a.Key == "worker" {
				h.shared.mu.Lock()
				if _, ok := h.shared.assigned[a.Value.String()]; !ok {
					h.shared.assigned[a.Value.String()] = r.Time
				}
				h.shared.mu.Unlock()
			}
		}
	}
	// Only the platform's services: the embedded FerretDB dumps every failed
	// command (such as the driver's endSessions) at warning level.
	if h.shared.out != nil && r.Level >= slog.LevelWarn && slices.ContainsFunc(h.attrs, func(a slog.Attr) bool { return a.Key == "service" }) {
		line := r.Time.Format("15:04:05.000") + " " + r.Level.String() + " " + r.Message
		for _, a := range h.attrs {
			line += " " + a.String()
		}
		r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
		h.shared.mu.Lock()
		fmt.Fprintln(h.shared.out, line)
		h.shared.mu.Unlock()
	}
	return nil
}

func (h *logHook) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHook{shared: h.shared, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *logHook) WithGroup(string) slog.Handler { return h }

// firstAssigned returns the earliest first-assignment time among workers.
func (h *logHook) firstAssigned(workers ...string) (time.Time, bool) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	var first time.Time
	for _, w := range workers {
		if t, ok := h.shared.assigned[w]; ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// lastAssigned returns the latest first-assignment time among workers: when
// every one of them held partitions.
func (h *logHook) lastAssigned(workers ...string) (time.Time, bool) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	var last time.Time
	for _, w := range workers {
		t, ok := h.shared.assigned[w]
		if !ok {
			return time.Time{}, false
		}
		if t.After(last) {
			last = t
		}
	}
	return last, !last.IsZero()
}
