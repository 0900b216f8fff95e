package ports

import (
	"context"
	"sync"

	"connectrpc.com/connect"
)

// callNote collects what a handler learns about its call (the acting client,
// the event id of a write) for the audit record written when the call ends.
// The HTTP middleware puts one in the context of every request.
type callNote struct {
	mu       sync.Mutex
	clientID string
	eventID  string
	code     string // Connect code of the outcome, set by codeInterceptor
}

type noteKey struct{}

func withNote(ctx context.Context, n *callNote) context.Context {
	return context.WithValue(ctx, noteKey{}, n)
}

// noteWrite records the client and/or event id of the current call.
func noteWrite(ctx context.Context, clientID, eventID string) {
	n, ok := ctx.Value(noteKey{}).(*callNote)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if clientID != "" {
		n.clientID = clientID
	}
	if eventID != "" {
		n.eventID = eventID
	}
}

// noteCode records the outcome of a call refused before any handler ran.
func noteCode(ctx context.Context, code connect.Code) {
	if n, ok := ctx.Value(noteKey{}).(*callNote); ok {
		n.mu.Lock()
		n.code = code.String()
		n.mu.Unlock()
	}
}
