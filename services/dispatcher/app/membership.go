package app

import (
	"context"
	"fmt"
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

// Membership is this dispatcher's view of the deployment's workers. The
// truth lives in the Registry that all dispatchers share: a join or a
// heartbeat received by any dispatcher is written there, and every
// dispatcher keeps a local copy, listed again every half heartbeat interval
// and whenever a dispatcher announces a change. Reads pick a worker from
// the copy at random (the seed's load balancing), so the registry is never
// on a read's path, and a dispatcher that cannot reach it keeps routing with
// the workers it last knew.
type Membership struct {
	cfg       MembershipConfig
	registry  Registry
	newClient ClientFactory
	log       *slog.Logger
	now       func() time.Time
	kick      chan struct{}

	mu      sync.RWMutex
	members map[string]*member
	// down holds when a worker was last found unreachable from this
	// dispatcher; it is skipped until a heartbeat newer than that.
	down    map[string]time.Time
	synced  time.Time
	syncErr error
}

type member struct {
	worker    domain.Worker
	client    WorkerClient
	expiresAt time.Time
}

// NewMembership returns a membership over registry with an empty copy; Run
// (or Sync) fills it.
func NewMembership(cfg MembershipConfig, registry Registry, newClient ClientFactory, log *slog.Logger) *Membership {
	return &Membership{cfg: cfg, registry: registry, newClient: newClient, log: log, now: time.Now,
		kick: make(chan struct{}, 1), members: map[string]*member{}, down: map[string]time.Time{}}
}

// TTL is the heartbeat window: how long a worker stays routable after its
// last heartbeat.
func (m *Membership) TTL() time.Duration {
	return m.cfg.HeartbeatInterval * time.Duration(m.cfg.MissedHeartbeats)
}

// Join admits a worker into the shared registry, or says why not: a
// *domain.Rejection, or an error wrapping ErrRegistryUnavailable.
func (m *Membership) Join(ctx context.Context, id, address, token string) error {
	now := m.now()
	canon, rej := domain.JudgeJoin(id, address, token, m.cfg.ClusterToken, m.cfg.Addresses, nil, now, m.TTL())
	if rej != nil {
		m.log.Warn("worker join rejected", "worker", id, "address", address, "reason", rej.Message)
		return rej
	}
	holder, err := m.registry.Register(ctx, id, canon, now, m.TTL())
	if err != nil {
		m.log.Warn("worker join not recorded: the registry is unavailable", "worker", id, "err", err)
		return fmt.Errorf("join %s: %w: %w", id, ErrRegistryUnavailable, err)
	}
	if holder != "" {
		rej := &domain.Rejection{Reason: domain.RejectDuplicateID,
			Message: fmt.Sprintf("worker id %q is held by a live worker at %s", id, holder)}
		m.log.Warn("worker join rejected", "worker", id, "address", canon, "reason", rej.Message)
		return rej
	}
	m.mu.Lock()
	rejoined := m.upsert(id, canon, now, now, now.Add(m.TTL()))
	delete(m.down, id)
	n := len(m.members)
	m.mu.Unlock()
	if rejoined {
		m.log.Info("worker rejoined", "worker", id, "address", canon)
	} else {
		m.log.Info("worker joined", "worker", id, "address", canon, "workers", n)
	}
	return nil
}

// upsert records id at address in the copy, reusing its client when the
// address is unchanged; it reports whether the worker was there already.
// m.mu is held.
func (m *Membership) upsert(id, address string, joinedAt, lastSeen, expiresAt time.Time) bool {
	if cur, ok := m.members[id]; ok && cur.worker.Address == address {
		cur.worker.JoinedAt = joinedAt
		// A heartbeat seen here may be newer than the registry's copy.
		if lastSeen.After(cur.worker.LastSeen) {
			cur.worker.LastSeen = lastSeen
		}
		if expiresAt.After(cur.expiresAt) {
			cur.expiresAt = expiresAt
		}
		return true
	}
	m.members[id] = &member{
		worker:    domain.Worker{ID: id, Address: address, JoinedAt: joinedAt, LastSeen: lastSeen},
		client:    m.newClient(id, address),
		expiresAt: expiresAt,
	}
	return false
}

// Heartbeat records that a worker is alive. It returns ErrUnknownWorker for
// a worker the registry does not hold (expired, left, or never joined),
// which tells it to join again.
func (m *Membership) Heartbeat(ctx context.Context, id, token string) error {
	if err := domain.CheckToken(token, m.cfg.ClusterToken); err != nil {
		return err
	}
	known, err := m.registry.Refresh(ctx, id, m.TTL())
	if err != nil {
		return fmt.Errorf("heartbeat %s: %w: %w", id, ErrRegistryUnavailable, err)
	}
	if !known {
		m.remove(id, "expired")
		return ErrUnknownWorker
	}
	now := m.now()
	m.mu.Lock()
	w, ok := m.members[id]
	if ok {
		w.worker.LastSeen, w.expiresAt = now, now.Add(m.TTL())
		delete(m.down, id)
	}
	m.mu.Unlock()
	if !ok {
		m.Refreshed() // joined through another dispatcher: list again now
	}
	return nil
}

// Leave removes a worker at its request, for every dispatcher.
func (m *Membership) Leave(ctx context.Context, id, token string) error {
	if err := domain.CheckToken(token, m.cfg.ClusterToken); err != nil {
		return err
	}
	if err := m.registry.Remove(ctx, id); err != nil {
		return fmt.Errorf("leave %s: %w: %w", id, ErrRegistryUnavailable, err)
	}
	m.remove(id, "left")
	return nil
}

// MarkDown stops this dispatcher routing reads to a worker at once, after a
// call to it failed as unavailable. The worker is routed to again when a
// heartbeat newer than the failure is seen; if it is dead, its entry
// expires for every dispatcher.
func (m *Membership) MarkDown(id string) {
	m.mu.Lock()
	_, ok := m.members[id]
	if ok {
		m.down[id] = m.now()
	}
	m.mu.Unlock()
	if ok {
		m.log.Info("worker marked down", "worker", id, "why", "unavailable")
	}
}

func (m *Membership) remove(id, why string) {
	m.mu.Lock()
	_, ok := m.members[id]
	delete(m.members, id)
	delete(m.down, id)
	n := len(m.members)
	m.mu.Unlock()
	if ok {
		m.log.Info("worker removed", "worker", id, "why", why, "workers", n)
	}
}

// Refreshed asks Run to list the registry again now.
func (m *Membership) Refreshed() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Sync lists the registry and makes the copy match it: new entries are
// added, expired or removed ones dropped, and entries that are not well
// formed (the registry is outside the dispatcher's trust) skipped. When the
// registry cannot be listed, the copy stays as it was.
func (m *Membership) Sync(ctx context.Context) error {
	started := m.now()
	regs, err := m.registry.List(ctx)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.syncErr = err
		return fmt.Errorf("sync membership: %w: %w", ErrRegistryUnavailable, err)
	}
	ttl := m.TTL()
	seen := make(map[string]bool, len(regs))
	for _, r := range regs {
		canon, err := m.cfg.Addresses.Check(r.Address)
		if !domain.ValidWorkerID(r.ID) || err != nil || canon != r.Address {
			m.log.Debug("registry entry skipped", "worker", r.ID, "address", r.Address, "err", err)
			continue
		}
		left := min(r.TTLLeft, ttl)
		lastSeen := now.Add(left - ttl)
		if !m.upsert(r.ID, canon, r.JoinedAt, lastSeen, now.Add(left)) {
			m.log.Info("worker joined", "worker", r.ID, "address", canon, "via", "registry", "workers", len(m.members))
		}
		if at, ok := m.down[r.ID]; ok && lastSeen.After(at) {
			delete(m.down, r.ID)
		}
		seen[r.ID] = true
	}
	for id, w := range m.members {
		// A join or heartbeat received here while the listing ran is newer
		// than the listing.
		if !seen[id] && !w.worker.LastSeen.After(started) {
			delete(m.members, id)
			delete(m.down, id)
			m.log.Info("worker removed", "worker", id, "why", "expired or left", "workers", len(m.members))
		}
	}
	m.synced, m.syncErr = now, nil
	return nil
}

// Run keeps the copy in step with the registry until ctx ends: a listing
// every half heartbeat interval, and one after every announced change.
func (m *Membership) Run(ctx context.Context) {
	go m.watch(ctx)
	period := max(m.cfg.HeartbeatInterval/2, 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	failing := false
	for {
		sctx, cancel := context.WithTimeout(ctx, max(m.cfg.HeartbeatInterval, time.Second))
		err := m.Sync(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			m.log.Warn("cannot list the workers' registry; routing with the workers last known", "err", err)
		case err == nil && failing:
			m.log.Info("the workers' registry is reachable again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// watch turns the registry's announcements into listings; a lost
// subscription is opened again after a heartbeat interval.
func (m *Membership) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := m.registry.Watch(ctx, m.Refreshed)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.log.Debug("registry announcements lost; listening again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(m.cfg.HeartbeatInterval):
		}
	}
}

// routable reports whether w may serve reads at now: within its heartbeat
// window (or the registry cannot be listed, and the last copy stands) and
// not marked down. m.mu is held.
func (m *Membership) routable(id string, w *member, now time.Time) bool {
	if _, down := m.down[id]; down {
		return false
	}
	return m.syncErr != nil || now.Before(w.expiresAt)
}

// Pick returns a random routable member other than exclude.
func (m *Membership) Pick(exclude string) (string, WorkerClient, bool) {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for id, w := range m.members {
		if id != exclude && m.routable(id, w, now) {
			n++
		}
	}
	if n == 0 {
		return "", nil, false
	}
	k := rand.IntN(n)
	for id, w := range m.members {
		if id == exclude || !m.routable(id, w, now) {
			continue
		}
		if k == 0 {
			return id, w.client, true
		}
		k--
	}
	return "", nil, false
}

// Workers returns the members within their heartbeat window.
func (m *Membership) Workers() []domain.Worker {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]domain.Worker, 0, len(m.members))
	for _, w := range m.members {
		if m.syncErr != nil || now.Before(w.expiresAt) {
			out = append(out, w.worker)
		}
	}
	return out
}

// RegistryStatus is the registry's side of readiness: when the copy was
// last listed, and the error of the last listing if it failed.
func (m *Membership) RegistryStatus() map[string]any {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := map[string]any{"status": "ok"}
	if !m.synced.IsZero() {
		s["listedAt"] = m.synced.UTC().Format(time.RFC3339Nano)
	}
	if m.syncErr != nil {
		s["status"] = "unreachable"
		s["error"] = m.syncErr.Error()
	}
	return s
}

// HeartbeatInterval is the interval announced to joining workers.
func (m *Membership) HeartbeatInterval() time.Duration { return m.cfg.HeartbeatInterval }
