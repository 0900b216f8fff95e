package app

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pawnshop/auction/services/dispatcher/domain"
)

// ClientFactory makes a WorkerClient for the worker id at its base address;
// under mutual TLS the client accepts only a server whose certificate names
// that worker.
type ClientFactory func(id, address string) WorkerClient

// MembershipConfig sets the heartbeat contract with the workers.
type MembershipConfig struct {
	// ClusterToken is the shared token workers present; empty: none is
	// asked for (mutual TLS admits them).
	ClusterToken string
	// Addresses are the limits on join addresses.
	Addresses         domain.AddressRules
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many intervals may pass without a heartbeat
	// before a worker is evicted.
	MissedHeartbeats int
}

// Membership is the quorum of joined workers: it judges joins, records
// heartbeats, evicts the silent and the failing, and picks a worker for each
// read at random (the seed's load balancing).
type Membership struct {
	cfg       MembershipConfig
	newClient ClientFactory
	log       *slog.Logger
	now       func() time.Time

	mu      sync.RWMutex
	members map[string]*member
}

type member struct {
	worker domain.Worker
	client WorkerClient
}

// NewMembership returns an empty quorum.
func NewMembership(cfg MembershipConfig, newClient ClientFactory, log *slog.Logger) *Membership {
	return &Membership{cfg: cfg, newClient: newClient, log: log, now: time.Now, members: map[string]*member{}}
}

func (m *Membership) ttl() time.Duration {
	return m.cfg.HeartbeatInterval * time.Duration(m.cfg.MissedHeartbeats)
}

// Join admits a worker or says why not.
func (m *Membership) Join(id, address, token string) *domain.Rejection {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	current := make(map[string]domain.Worker, len(m.members))
	for k, v := range m.members {
		current[k] = v.worker
	}
	canon, rej := domain.JudgeJoin(id, address, token, m.cfg.ClusterToken, m.cfg.Addresses, current, now, m.ttl())
	if rej != nil {
		m.log.Warn("worker join rejected", "worker", id, "address", address, "reason", rej.Message)
		return rej
	}
	if old, ok := m.members[id]; ok && old.worker.Address == canon {
		old.worker.LastSeen = now
		m.log.Info("worker rejoined", "worker", id, "address", canon)
		return nil
	}
	m.members[id] = &member{
		worker: domain.Worker{ID: id, Address: canon, JoinedAt: now, LastSeen: now},
		client: m.newClient(id, canon),
	}
	m.log.Info("worker joined", "worker", id, "address", canon, "workers", len(m.members))
	return nil
}

// Heartbeat records that a worker is alive. It returns ErrUnknownWorker for a
// worker that is not a member, which tells it to join again.
func (m *Membership) Heartbeat(id, token string) error {
	if err := domain.CheckToken(token, m.cfg.ClusterToken); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.members[id]
	if !ok {
		return ErrUnknownWorker
	}
	w.worker.LastSeen = m.now()
	return nil
}

// Leave removes a worker at its request.
func (m *Membership) Leave(id, token string) error {
	if err := domain.CheckToken(token, m.cfg.ClusterToken); err != nil {
		return err
	}
	m.remove(id, "left")
	return nil
}

// MarkDown stops routing reads to a worker at once, after a call to it failed
// as unavailable. If it is alive its next heartbeat is answered "unknown" and
// it joins again.
func (m *Membership) MarkDown(id string) { m.remove(id, "unavailable") }

func (m *Membership) remove(id, why string) {
	m.mu.Lock()
	_, ok := m.members[id]
	delete(m.members, id)
	n := len(m.members)
	m.mu.Unlock()
	if ok {
		m.log.Info("worker removed", "worker", id, "why", why, "workers", n)
	}
}

// EvictSilent removes every worker that missed MissedHeartbeats heartbeats.
func (m *Membership) EvictSilent() {
	now := m.now()
	m.mu.RLock()
	var silent []string
	for id, w := range m.members {
		if !w.worker.Live(now, m.ttl()) {
			silent = append(silent, id)
		}
	}
	m.mu.RUnlock()
	for _, id := range silent {
		m.remove(id, "missed heartbeats")
	}
}

// RunEviction evicts silent workers every heartbeat interval until ctx ends.
func (m *Membership) RunEviction(ctx context.Context) {
	t := time.NewTicker(m.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.EvictSilent()
		}
	}
}

// Pick returns a random member other than exclude.
func (m *Membership) Pick(exclude string) (string, WorkerClient, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := len(m.members)
	if _, ok := m.members[exclude]; ok {
		n--
	}
	if n <= 0 {
		return "", nil, false
	}
	k := rand.IntN(n)
	for id, w := range m.members {
		if id == exclude {
			continue
		}
		if k == 0 {
			return id, w.client, true
		}
		k--
	}
	return "", nil, false
}

// Workers returns a snapshot of the members.
func (m *Membership) Workers() []domain.Worker {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]domain.Worker, 0, len(m.members))
	for _, w := range m.members {
		out = append(out, w.worker)
	}
	return out
}

// HeartbeatInterval is the interval announced to joining workers.
func (m *Membership) HeartbeatInterval() time.Duration { return m.cfg.HeartbeatInterval }
