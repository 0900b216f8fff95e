package app

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pawnshop/auction/services/dispatcher/domain"
)

// addrClient is a WorkerClient that remembers the address it was made for.
type addrClient struct {
	WorkerClient
	addr string
}

// testQuorum is a Membership on a clock the test moves, with a client
// factory that records the addresses it was asked for.
type testQuorum struct {
	*Membership
	clock time.Time
	made  []string
}

const testToken = "cluster-secret"

func newTestQuorum(t testing.TB) *testQuorum {
	t.Helper()
	q := &testQuorum{clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q.Membership = NewMembership(MembershipConfig{ClusterToken: testToken, HeartbeatInterval: time.Second, MissedHeartbeats: 3},
		func(_, addr string) WorkerClient {
			q.made = append(q.made, addr)
			return &addrClient{addr: addr}
		}, discardLog())
	q.now = func() time.Time { return q.clock }
	return q
}

func (q *testQuorum) advance(d time.Duration) { q.clock = q.clock.Add(d) }

func (q *testQuorum) mustJoin(t testing.TB, id, addr string) {
	t.Helper()
	if rej := q.Join(id, addr, testToken); rej != nil {
		t.Fatalf("join %s at %s: %v", id, addr, rej)
	}
}

// ids returns the member ids, sorted.
func (q *testQuorum) ids() []string {
	var out []string
	for _, w := range q.Workers() {
		out = append(out, w.ID)
	}
	sort.Strings(out)
	return out
}

func (q *testQuorum) worker(t testing.TB, id string) domain.Worker {
	t.Helper()
	for _, w := range q.Workers() {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("%s is not a member (members %v)", id, q.ids())
	return domain.Worker{}
}

func TestJoinAdmitsAWorkerAtItsCanonicalAddress(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://W1.Local:0080/")
	w := q.worker(t, "w1")
	if w.Address != "http://w1.local:80" || !w.JoinedAt.Equal(q.clock) || !w.LastSeen.Equal(q.clock) {
		t.Fatalf("member %+v", w)
	}
	if !slices.Equal(q.made, []string{"http://w1.local:80"}) {
		t.Fatalf("clients made for %v, want the canonical address", q.made)
	}
	id, c, ok := q.Pick("")
	if !ok || id != "w1" || c.(*addrClient).addr != "http://w1.local:80" {
		t.Fatalf("pick: %q %v %v", id, c, ok)
	}
	if q.HeartbeatInterval() != time.Second {
		t.Fatalf("announced interval %v", q.HeartbeatInterval())
	}
}

func TestJoinRejections(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	for _, c := range []struct {
		name, id, addr, token string
		want                  domain.RejectReason
	}{
		{"bad token", "w2", "http://127.0.0.1:9102", "wrong", domain.RejectBadToken},
		{"empty token", "w2", "http://127.0.0.1:9102", "", domain.RejectBadToken},
		{"bad address", "w2", "ftp://127.0.0.1:9102", testToken, domain.RejectBadAddress},
		{"address with a path", "w2", "http://127.0.0.1:9102/x", testToken, domain.RejectBadAddress},
		{"address without port", "w2", "http://127.0.0.1", testToken, domain.RejectBadAddress},
		{"id held by a live worker elsewhere", "w1", "http://127.0.0.1:9999", testToken, domain.RejectDuplicateID},
	} {
		t.Run(c.name, func(t *testing.T) {
			rej := q.Join(c.id, c.addr, c.token)
			if rej == nil || rej.Reason != c.want || rej.Message == "" {
				t.Fatalf("rejection %+v, want reason %v with a message", rej, c.want)
			}
			if got := q.ids(); !slices.Equal(got, []string{"w1"}) {
				t.Fatalf("members %v after a rejected join", got)
			}
			if w := q.worker(t, "w1"); w.Address != "http://127.0.0.1:9101" {
				t.Fatalf("a rejected join changed w1 to %s", w.Address)
			}
		})
	}
	if len(q.made) != 1 {
		t.Fatalf("clients made %v: a rejected join must not make one", q.made)
	}
}

func TestRejoinAtTheSameAddressKeepsTheMember(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	joined := q.clock
	q.advance(2 * time.Second)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101/")
	w := q.worker(t, "w1")
	if !w.JoinedAt.Equal(joined) || !w.LastSeen.Equal(q.clock) {
		t.Fatalf("rejoined member %+v: joined at %v, last seen now %v", w, joined, q.clock)
	}
	if len(q.made) != 1 {
		t.Fatalf("clients made %v: a rejoin at the same address reuses the client", q.made)
	}
}

func TestAnIDHeldByASilentWorkerCanBeTakenOver(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	q.advance(3 * time.Second) // exactly the TTL: still live
	if rej := q.Join("w1", "http://127.0.0.1:9201", testToken); rej == nil || rej.Reason != domain.RejectDuplicateID {
		t.Fatalf("join while the holder is live: %+v", rej)
	}
	q.advance(time.Millisecond)
	q.mustJoin(t, "w1", "http://127.0.0.1:9201")
	if w := q.worker(t, "w1"); w.Address != "http://127.0.0.1:9201" || !w.JoinedAt.Equal(q.clock) {
		t.Fatalf("member %+v after the takeover", w)
	}
	_, c, _ := q.Pick("")
	if c.(*addrClient).addr != "http://127.0.0.1:9201" {
		t.Fatalf("reads still go to %s", c.(*addrClient).addr)
	}
}

func TestHeartbeat(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	q.advance(2 * time.Second)
	if err := q.Heartbeat("w1", "wrong"); !errors.Is(err, domain.ErrBadToken) {
		t.Fatalf("heartbeat with a wrong token: %v", err)
	}
	if w := q.worker(t, "w1"); w.LastSeen.Equal(q.clock) {
		t.Fatal("a heartbeat with a wrong token counted")
	}
	if err := q.Heartbeat("w9", testToken); !errors.Is(err, ErrUnknownWorker) {
		t.Fatalf("heartbeat of a non-member: %v, want ErrUnknownWorker", err)
	}
	if err := q.Heartbeat("w1", testToken); err != nil {
		t.Fatal(err)
	}
	if w := q.worker(t, "w1"); !w.LastSeen.Equal(q.clock) {
		t.Fatalf("last seen %v, want %v", w.LastSeen, q.clock)
	}
	// Three seconds after the heartbeat (five after the join) it is still live.
	q.advance(3 * time.Second)
	q.EvictSilent()
	if got := q.ids(); !slices.Equal(got, []string{"w1"}) {
		t.Fatalf("members %v: the heartbeat did not keep w1", got)
	}
}

func TestEvictSilentRemovesOnlyWorkersPastTheTTL(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "old", "http://127.0.0.1:9101")
	q.advance(2 * time.Second)
	q.mustJoin(t, "new", "http://127.0.0.1:9102")
	q.advance(time.Second) // old: exactly 3 intervals silent
	q.EvictSilent()
	if got := q.ids(); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("members %v: a worker silent for exactly the TTL stays", got)
	}
	q.advance(time.Nanosecond)
	q.EvictSilent()
	if got := q.ids(); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("members %v, want [new]", got)
	}
	if err := q.Heartbeat("old", testToken); !errors.Is(err, ErrUnknownWorker) {
		t.Fatalf("heartbeat of an evicted worker: %v, want ErrUnknownWorker (so it joins again)", err)
	}
}

func TestRunEvictionEvictsSilentWorkersUntilCancelled(t *testing.T) {
	m := NewMembership(MembershipConfig{ClusterToken: testToken, HeartbeatInterval: time.Millisecond, MissedHeartbeats: 3},
		func(_, _ string) WorkerClient { return nil }, discardLog())
	// The clock stands still until the test moves it, from the loop's
	// goroutine as well.
	var clock atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock.Store(start.UnixNano())
	m.now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	if rej := m.Join("w1", "http://127.0.0.1:9101", testToken); rej != nil {
		t.Fatal(rej)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.RunEviction(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	clock.Store(start.Add(time.Hour).UnixNano())
	for len(m.Workers()) != 0 {
		time.Sleep(time.Millisecond) // the loop's next tick evicts w1
	}
	cancel()
	<-done // RunEviction returns when its context ends
}

func TestLeaveAndMarkDownRemoveAtOnce(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	q.mustJoin(t, "w2", "http://127.0.0.1:9102")
	q.mustJoin(t, "w3", "http://127.0.0.1:9103")
	if err := q.Leave("w1", "wrong"); !errors.Is(err, domain.ErrBadToken) {
		t.Fatalf("leave with a wrong token: %v", err)
	}
	if got := q.ids(); !slices.Equal(got, []string{"w1", "w2", "w3"}) {
		t.Fatalf("members %v after a refused leave", got)
	}
	if err := q.Leave("w1", testToken); err != nil {
		t.Fatal(err)
	}
	q.MarkDown("w2")
	if got := q.ids(); !slices.Equal(got, []string{"w3"}) {
		t.Fatalf("members %v, want [w3]", got)
	}
	// Leaving twice, or marking down a non-member, is harmless.
	if err := q.Leave("w1", testToken); err != nil {
		t.Fatal(err)
	}
	q.MarkDown("w9")
	if got := q.ids(); !slices.Equal(got, []string{"w3"}) {
		t.Fatalf("members %v, want [w3]", got)
	}
}

func TestPick(t *testing.T) {
	q := newTestQuorum(t)
	if _, _, ok := q.Pick(""); ok {
		t.Fatal("picked from an empty quorum")
	}
	q.mustJoin(t, "a", "http://127.0.0.1:9101")
	if _, _, ok := q.Pick("a"); ok {
		t.Fatal("picked the only member although it was excluded")
	}
	if id, _, ok := q.Pick("zz"); !ok || id != "a" {
		t.Fatalf("excluding a non-member: %q %v", id, ok)
	}
	q.mustJoin(t, "b", "http://127.0.0.1:9102")
	q.mustJoin(t, "c", "http://127.0.0.1:9103")
	seen := map[string]int{}
	for range 300 {
		id, c, ok := q.Pick("b")
		if !ok || id == "b" {
			t.Fatalf("pick excluding b: %q %v", id, ok)
		}
		if c.(*addrClient).addr != q.worker(t, id).Address {
			t.Fatalf("pick %s handed out the client of %s", id, c.(*addrClient).addr)
		}
		seen[id]++
	}
	// Random choice: over 300 picks between two members each is chosen
	// (missing one has probability 2^-299).
	if seen["a"] == 0 || seen["c"] == 0 {
		t.Fatalf("picks %v: the choice is not spread over the members", seen)
	}
}
