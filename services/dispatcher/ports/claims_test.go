package ports

import (
	"context"
	"sync"
)

// memClaims is app.IDClaims in memory.
type memClaims struct {
	mu   sync.Mutex
	held map[string]string
}

func newMemClaims() *memClaims { return &memClaims{held: map[string]string{}} }

func (c *memClaims) Claim(_ context.Context, id, fingerprint string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.held[id]; ok {
		return h, false, nil
	}
	c.held[id] = fingerprint
	return fingerprint, true, nil
}

func (c *memClaims) Release(_ context.Context, id, fingerprint string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[id] == fingerprint {
		delete(c.held, id)
	}
	return nil
}
