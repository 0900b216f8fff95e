package app

import (
	"context"
	"time"
)

// Registry is where the dispatchers of one deployment keep the live
// workers, so that all of them route reads to every worker whichever
// dispatcher it joined through. An entry lives for the heartbeat window
// from its last registration or refresh; the registry's clock, not a
// dispatcher's, expires it.
type Registry interface {
	// Register records the worker id at address for ttl. When a live entry
	// holds id at another address, nothing is written and that address is
	// returned. A rejoin at the same address keeps the first join time.
	Register(ctx context.Context, id, address string, joinedAt time.Time, ttl time.Duration) (holder string, err error)
	// Refresh extends id's entry by ttl; false when there is none (expired
	// or removed).
	Refresh(ctx context.Context, id string, ttl time.Duration) (bool, error)
	// Remove deletes id's entry.
	Remove(ctx context.Context, id string) error
	// List returns every live entry. Entries come from outside the
	// dispatcher's trust: the membership checks them before use.
	List(ctx context.Context) ([]Registration, error)
	// Watch calls changed whenever a dispatcher registers or removes an
	// entry, until ctx ends.
	Watch(ctx context.Context, changed func()) error
}

// Registration is one live entry of the Registry.
type Registration struct {
	ID       string
	Address  string
	JoinedAt time.Time
	// TTLLeft is how long the entry lives without a refresh.
	TTLLeft time.Duration
}
