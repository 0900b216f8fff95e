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

// testClock is a clock the test moves, safe to read from a loop's goroutine.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// testQuorum is one dispatcher's Membership on a shared registry and clock,
// with a client factory that records the addresses it was asked for.
type testQuorum struct {
	*Membership
	*testClock
	reg  *memRegistry
	made []string
}

const testToken = "cluster-secret"

func newTestQuorum(t testing.TB) *testQuorum {
	t.Helper()
	clock := newTestClock()
	return newQuorumOn(t, newMemRegistry(clock.Now), clock)
}

// newQuorumOn is another dispatcher sharing reg and clock.
func newQuorumOn(t testing.TB, reg *memRegistry, clock *testClock) *testQuorum {
	t.Helper()
	q := &testQuorum{testClock: clock, reg: reg}
	q.Membership = NewMembership(MembershipConfig{ClusterToken: testToken, HeartbeatInterval: time.Second, MissedHeartbeats: 3},
		reg, func(_, addr string) WorkerClient {
			q.made = append(q.made, addr)
			return &addrClient{addr: addr}
		}, discardLog())
	q.Membership.now = clock.Now
	return q
}

func (q *testQuorum) clock() time.Time { return q.Now() }

func (q *testQuorum) mustJoin(t testing.TB, id, addr string) {
	t.Helper()
	if err := q.Join(context.Background(), id, addr, testToken); err != nil {
		t.Fatalf("join %s at %s: %v", id, addr, err)
	}
}

func (q *testQuorum) mustSync(t testing.TB) {
	t.Helper()
	if err := q.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (q *testQuorum) heartbeat(id, token string) error {
	return q.Heartbeat(context.Background(), id, token)
}

// ids returns the member ids within their window, sorted.
func (q *testQuorum) ids() []string {
	var out []string
	for _, w := range q.Workers() {
		out = append(out, w.ID)
	}
	sort.Strings(out)
	return out
}

// routed returns the ids Pick hands out, sorted.
func (q *testQuorum) routed() []string {
	seen := map[string]bool{}
	for range 200 {
		if id, _, ok := q.Pick(""); ok {
			seen[id] = true
		}
	}
	var out []string
	for id := range seen {
		out = append(out, id)
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

func rejection(t testing.TB, err error) *domain.Rejection {
	t.Helper()
	rej, ok := errors.AsType[*domain.Rejection](err)
	if !ok {
		t.Fatalf("got %v, want a *domain.Rejection", err)
	}
	return rej
}

func TestJoinAdmitsAWorkerAtItsCanonicalAddress(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://W1.Local:0080/")
	w := q.worker(t, "w1")
	if w.Address != "http://w1.local:80" || !w.JoinedAt.Equal(q.clock()) || !w.LastSeen.Equal(q.clock()) {
		t.Fatalf("member %+v", w)
	}
	if !slices.Equal(q.made, []string{"http://w1.local:80"}) {
		t.Fatalf("clients made for %v, want the canonical address", q.made)
	}
	id, c, ok := q.Pick("")
	if !ok || id != "w1" || c.(*addrClient).addr != "http://w1.local:80" {
		t.Fatalf("pick: %q %v %v", id, c, ok)
	}
	if q.HeartbeatInterval() != time.Second || q.TTL() != 3*time.Second {
		t.Fatalf("announced interval %v, window %v", q.HeartbeatInterval(), q.TTL())
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
			rej := rejection(t, q.Join(context.Background(), c.id, c.addr, c.token))
			if rej.Reason != c.want || rej.Message == "" {
				t.Fatalf("rejection %+v, want reason %v with a message", rej, c.want)
			}
			q.mustSync(t)
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
	joined := q.clock()
	q.advance(2 * time.Second)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101/")
	q.mustSync(t)
	w := q.worker(t, "w1")
	if !w.JoinedAt.Equal(joined) || !w.LastSeen.Equal(q.clock()) {
		t.Fatalf("rejoined member %+v: joined at %v, last seen now %v", w, joined, q.clock())
	}
	if len(q.made) != 1 {
		t.Fatalf("clients made %v: a rejoin at the same address reuses the client", q.made)
	}
}

func TestAnIDHeldByASilentWorkerCanBeTakenOver(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	q.advance(3*time.Second - time.Millisecond) // within the window: still live
	if rej := rejection(t, q.Join(context.Background(), "w1", "http://127.0.0.1:9201", testToken)); rej.Reason != domain.RejectDuplicateID {
		t.Fatalf("join while the holder is live: %+v", rej)
	}
	q.advance(time.Millisecond)
	q.mustJoin(t, "w1", "http://127.0.0.1:9201")
	if w := q.worker(t, "w1"); w.Address != "http://127.0.0.1:9201" || !w.JoinedAt.Equal(q.clock()) {
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
	if err := q.heartbeat("w1", "wrong"); !errors.Is(err, domain.ErrBadToken) {
		t.Fatalf("heartbeat with a wrong token: %v", err)
	}
	if w := q.worker(t, "w1"); w.LastSeen.Equal(q.clock()) {
		t.Fatal("a heartbeat with a wrong token counted")
	}
	if err := q.heartbeat("w9", testToken); !errors.Is(err, ErrUnknownWorker) {
		t.Fatalf("heartbeat of a non-member: %v, want ErrUnknownWorker", err)
	}
	if err := q.heartbeat("w1", testToken); err != nil {
		t.Fatal(err)
	}
	if w := q.worker(t, "w1"); !w.LastSeen.Equal(q.clock()) {
		t.Fatalf("last seen %v, want %v", w.LastSeen, q.clock())
	}
	// Just under three seconds after the heartbeat (five after the join)
	// it is still routed, at the window it is not, and its next heartbeat
	// tells it to join again.
	q.advance(3*time.Second - time.Millisecond)
	q.mustSync(t)
	if got := q.routed(); !slices.Equal(got, []string{"w1"}) {
		t.Fatalf("routed %v: the heartbeat did not keep w1", got)
	}
	q.advance(time.Millisecond)
	if got := q.routed(); len(got) != 0 {
		t.Fatalf("routed %v past the window, before any listing", got)
	}
	if err := q.heartbeat("w1", testToken); !errors.Is(err, ErrUnknownWorker) {
		t.Fatalf("heartbeat after the window: %v, want ErrUnknownWorker (so it joins again)", err)
	}
}

// TestDispatchersShareTheWorkers: two dispatchers on one registry route to
// every worker whichever one it joined, heartbeated or left through; a
// silent worker leaves both at the end of its window.
func TestDispatchersShareTheWorkers(t *testing.T) {
	a := newTestQuorum(t)
	b := newQuorumOn(t, a.reg, a.testClock)
	a.mustJoin(t, "w1", "http://127.0.0.1:9101")
	b.mustJoin(t, "w2", "http://127.0.0.1:9102")
	a.mustSync(t)
	b.mustSync(t)
	for _, q := range []*testQuorum{a, b} {
		if got := q.routed(); !slices.Equal(got, []string{"w1", "w2"}) {
			t.Fatalf("routed %v, want both workers on both dispatchers", got)
		}
	}
	// w1 keeps beating through b only; w2 goes silent.
	for range 4 {
		a.advance(time.Second)
		if err := b.heartbeat("w1", testToken); err != nil {
			t.Fatal(err)
		}
	}
	a.mustSync(t)
	for _, q := range []*testQuorum{a, b} {
		if got := q.routed(); !slices.Equal(got, []string{"w1"}) {
			t.Fatalf("routed %v, want only w1 after w2's window", got)
		}
	}
	if err := b.Leave(context.Background(), "w1", testToken); err != nil {
		t.Fatal(err)
	}
	a.mustSync(t)
	if got := a.routed(); len(got) != 0 {
		t.Fatalf("routed %v after w1 left through the other dispatcher", got)
	}
}

// TestMarkDownIsLocalUntilANewerHeartbeat: a worker this dispatcher could
// not reach is skipped here at once, still routed by the others, and
// routed here again once a heartbeat newer than the failure is seen.
func TestMarkDownIsLocalUntilANewerHeartbeat(t *testing.T) {
	a := newTestQuorum(t)
	b := newQuorumOn(t, a.reg, a.testClock)
	a.mustJoin(t, "w1", "http://127.0.0.1:9101")
	a.mustJoin(t, "w2", "http://127.0.0.1:9102")
	b.mustSync(t)
	a.MarkDown("w1")
	a.MarkDown("w9") // not a member: harmless
	if got := a.routed(); !slices.Equal(got, []string{"w2"}) {
		t.Fatalf("routed %v here after marking w1 down", got)
	}
	if got := b.routed(); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Fatalf("routed %v by the other dispatcher", got)
	}
	a.mustSync(t) // no newer heartbeat yet
	if got := a.routed(); !slices.Equal(got, []string{"w2"}) {
		t.Fatalf("routed %v after a listing without a newer heartbeat", got)
	}
	a.advance(500 * time.Millisecond)
	if err := b.heartbeat("w1", testToken); err != nil {
		t.Fatal(err)
	}
	a.mustSync(t)
	if got := a.routed(); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Fatalf("routed %v after w1's newer heartbeat", got)
	}
}

// TestAnUnreachableRegistry: joins and heartbeats fail as unavailable (the
// worker retries), and the copy keeps routing to the workers last known,
// even past their window, until the registry answers again.
func TestAnUnreachableRegistry(t *testing.T) {
	q := newTestQuorum(t)
	q.mustJoin(t, "w1", "http://127.0.0.1:9101")
	q.mustSync(t)
	down := errors.New("connection refused")
	q.reg.setFail(down)
	if err := q.Join(context.Background(), "w2", "http://127.0.0.1:9102", testToken); !errors.Is(err, ErrRegistryUnavailable) || !errors.Is(err, down) {
		t.Fatalf("join: %v", err)
	}
	if err := q.heartbeat("w1", testToken); !errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := q.Leave(context.Background(), "w1", testToken); !errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("leave: %v", err)
	}
	if err := q.Sync(context.Background()); !errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("sync: %v", err)
	}
	q.advance(time.Hour)
	if got := q.routed(); !slices.Equal(got, []string{"w1"}) {
		t.Fatalf("routed %v while the registry is unreachable, want the last known", got)
	}
	if st := q.RegistryStatus(); st["status"] != "unreachable" || st["error"] == nil {
		t.Fatalf("status %v", st)
	}
	q.reg.setFail(nil)
	q.mustSync(t)
	if got := q.routed(); len(got) != 0 {
		t.Fatalf("routed %v once the registry answers that w1 expired", got)
	}
	if st := q.RegistryStatus(); st["status"] != "ok" {
		t.Fatalf("status %v", st)
	}
}

// TestHostileRegistryEntriesAreSkipped: the registry is outside the
// dispatcher's trust; entries a join would refuse are never routed to.
func TestHostileRegistryEntriesAreSkipped(t *testing.T) {
	q := newTestQuorum(t)
	q.reg.put("ok", "http://127.0.0.1:9101", time.Second)
	q.reg.put("../x", "http://127.0.0.1:9102", time.Second)
	q.reg.put("meta", "http://169.254.169.254:80", time.Second)
	q.reg.put("path", "http://127.0.0.1:9103/admin", time.Second)
	q.reg.put("upper", "http://LOCALHOST:9104", time.Second)
	q.reg.put("forever", "http://127.0.0.1:9105", 1000*time.Hour)
	q.mustSync(t)
	if got := q.ids(); !slices.Equal(got, []string{"forever", "ok"}) {
		t.Fatalf("members %v", got)
	}
	// An entry claiming a TTL beyond the window counts as the window.
	q.advance(3 * time.Second)
	if got := q.routed(); len(got) != 0 {
		t.Fatalf("routed %v past the window", got)
	}
}

func TestRunListsUntilCancelled(t *testing.T) {
	clock := newTestClock()
	reg := newMemRegistry(clock.Now)
	q := newQuorumOn(t, reg, clock)
	other := newQuorumOn(t, reg, clock)
	q.cfg.HeartbeatInterval = time.Hour // only announcements wake it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The join through the other dispatcher is announced: Run lists again.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		reg.mu.Lock()
		watching := len(reg.changed) > 0
		reg.mu.Unlock()
		if watching {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run does not watch the registry")
		}
	}
	other.mustJoin(t, "w1", "http://127.0.0.1:9101")
	for deadline := time.Now().Add(5 * time.Second); len(q.Workers()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an announced join never reached the copy")
		}
	}
	cancel()
	<-done // Run returns when its context ends
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
