package app

import (
	"context"
	"sync"
	"time"
)

// memRegistry is a Registry in memory on a clock the test moves; several
// Memberships sharing one stand for several dispatchers sharing a Redis.
type memRegistry struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry
	// fail, when set, is returned by every call.
	fail    error
	changed []func()
}

type memEntry struct {
	address  string
	joinedAt time.Time
	expires  time.Time
}

func newMemRegistry(now func() time.Time) *memRegistry {
	return &memRegistry{now: now, entries: map[string]memEntry{}}
}

func (r *memRegistry) live(id string) (memEntry, bool) {
	e, ok := r.entries[id]
	if ok && !r.now().Before(e.expires) {
		delete(r.entries, id)
		return memEntry{}, false
	}
	return e, ok
}

func (r *memRegistry) Register(_ context.Context, id, address string, joinedAt time.Time, ttl time.Duration) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	if e, ok := r.live(id); ok {
		if e.address != address {
			return e.address, nil
		}
		joinedAt = e.joinedAt
	}
	r.entries[id] = memEntry{address: address, joinedAt: joinedAt, expires: r.now().Add(ttl)}
	r.announce()
	return "", nil
}

func (r *memRegistry) Refresh(_ context.Context, id string, ttl time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return false, r.fail
	}
	e, ok := r.live(id)
	if ok {
		e.expires = r.now().Add(ttl)
		r.entries[id] = e
	}
	return ok, nil
}

func (r *memRegistry) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	delete(r.entries, id)
	r.announce()
	return nil
}

func (r *memRegistry) List(context.Context) ([]Registration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	var out []Registration
	for id := range r.entries {
		if e, ok := r.live(id); ok {
			out = append(out, Registration{ID: id, Address: e.address, JoinedAt: e.joinedAt, TTLLeft: e.expires.Sub(r.now())})
		}
	}
	return out, nil
}

func (r *memRegistry) Watch(ctx context.Context, changed func()) error {
	r.mu.Lock()
	r.changed = append(r.changed, changed)
	r.mu.Unlock()
	<-ctx.Done()
	return nil
}

// announce tells the watchers; r.mu is held.
func (r *memRegistry) announce() {
	for _, f := range r.changed {
		f()
	}
}

// put writes an entry as a hostile or foreign writer could.
func (r *memRegistry) put(id, address string, ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[id] = memEntry{address: address, joinedAt: r.now(), expires: r.now().Add(ttl)}
}

func (r *memRegistry) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}
