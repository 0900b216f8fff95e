package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/pawnshop/auction/services/devstack/stack/stacktest"
)

// scaleHeartbeat and scaleMissed are the scale-out test's heartbeat
// contract: a worker is out of every dispatcher's routing scaleWindow after
// its last heartbeat.
const (
	scaleHeartbeat = 200 * time.Millisecond
	scaleMissed    = 3 // the dispatcher's MISSED_HEARTBEATS default
	scaleWindow    = scaleHeartbeat * scaleMissed
)

// TestScaleOut is issue 13's end-to-end check: 2 dispatchers and 3 workers
// (two in the stack's process, one a process of its own, killed with
// SIGKILL in the last part).
func TestScaleOut(t *testing.T) {
	bin := buildWorker(t)
	s := stacktest.Start(t, stack.Config{Dispatchers: 2, Workers: 2, HeartbeatInterval: scaleHeartbeat})
	ds := s.Dispatchers()
	if len(ds) != 2 {
		t.Fatalf("%d dispatchers, want 2", len(ds))
	}
	a, b := ds[0], ds[1]
	proc := startWorkerProcess(t, s, bin, "process-worker")
	all := []string{"process-worker", s.Workers()[0].ID, s.Workers()[1].ID}
	sort.Strings(all)
	for _, d := range ds {
		eventually(t, 20*time.Second, func() error { return listsWorkers(s, d.URL(), all) })
	}
	c := scaleClient(s)

	t.Run("reads and writes through both dispatchers", func(t *testing.T) {
		for _, d := range ds {
			if err := listsWorkers(s, d.URL(), all); err != nil {
				t.Errorf("%s /readyz: %v", d.ID, err)
			}
		}
		for _, hop := range [][2]*stack.Dispatcher{{a, b}, {b, a}} {
			w, r := hop[0], hop[1]
			id := "across-" + w.ID
			if st, raw, err := c.do(w.URL(), http.MethodPost, "/item/add", addBody(id, "across")); err != nil || st != http.StatusAccepted {
				t.Fatalf("add %s through %s: %d %s %v", id, w.ID, st, raw, err)
			}
			eventually(t, 20*time.Second, func() error {
				st, raw, err := c.do(r.URL(), http.MethodGet, "/item/fetch/"+id, "")
				if err != nil || st != http.StatusOK || !strings.Contains(string(raw), `"across"`) {
					return fmt.Errorf("fetch %s through %s: %d %s %v", id, r.ID, st, raw, err)
				}
				return nil
			})
		}
	})

	// Items every later read fetches, stored before the load.
	const seeded = 40
	for i := range seeded {
		d := ds[i%2]
		if st, raw, err := c.do(d.URL(), http.MethodPost, "/item/add", addBody(seedID(i), "seed")); err != nil || st != http.StatusAccepted {
			t.Fatalf("seed %d through %s: %d %s %v", i, d.ID, st, raw, err)
		}
	}
	eventually(t, 30*time.Second, func() error {
		for i := range seeded {
			if st, _, err := c.do(b.URL(), http.MethodGet, "/item/fetch/"+seedID(i), ""); err != nil || st != http.StatusOK {
				return fmt.Errorf("seed %d: %d %v", i, st, err)
			}
		}
		return nil
	})

	t.Run("a dispatcher stopped mid-load", func(t *testing.T) {
		midLoad(t, c, "stop", []string{a.URL(), b.URL()}, b.URL(), seeded, func() {
			start := time.Now()
			if err := s.StopDispatcher(context.Background(), a); err != nil {
				t.Errorf("stop %s: %v", a.ID, err)
			}
			t.Logf("stopped %s in %s", a.ID, time.Since(start).Round(time.Millisecond))
		})
	})

	// A dispatcher lost: a process, killed (no drain, calls in flight cut).
	t.Run("a dispatcher process killed mid-load", func(t *testing.T) {
		p, cmd := startDispatcherProcess(t, s, "process-dispatcher")
		eventually(t, 20*time.Second, func() error { return listsWorkers(s, p, all) })
		midLoad(t, c, "kill", []string{p, b.URL()}, b.URL(), seeded, func() {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Error(err)
			}
			t.Logf("killed the dispatcher process")
		})
	})

	// A back (a restart, same addresses): both dispatchers again for the
	// kill.
	if err := s.RestartDispatcher(context.Background()); err != nil {
		t.Fatalf("restart %s: %v", a.ID, err)
	}
	a = s.Dispatchers()[0]
	eventually(t, 20*time.Second, func() error { return listsWorkers(s, a.URL(), all) })

	t.Run("a worker killed", func(t *testing.T) {
		addr := workerAddress(t, s, b.URL(), "process-worker")
		if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// Its port now counts whoever still calls it: a read routed to the
		// dead worker would land here.
		trap := listenCounting(t, addr)
		rest := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == "process-worker" })
		time.Sleep(time.Until(killed.Add(scaleWindow + 500*time.Millisecond)))
		for _, d := range []*stack.Dispatcher{a, b} {
			if err := listsWorkers(s, d.URL(), rest); err != nil {
				t.Errorf("%s /readyz %s after the kill: %v", d.ID, time.Since(killed).Round(time.Millisecond), err)
			}
		}
		// Reads now: each answered at once (no retry), none reaching the
		// dead worker's address.
		var other int
		for i := range 120 {
			d := []*stack.Dispatcher{a, b}[i%2]
			st, raw, err := c.do(d.URL(), http.MethodGet, "/item/fetch/"+seedID(i%seeded), "")
			if err != nil || st != http.StatusOK {
				other++
				t.Logf("read %d through %s: %d %s %v", i, d.ID, st, raw, err)
			}
		}
		if other > 0 || trap.Load() > 0 {
			t.Errorf("after the heartbeat window: %d of 120 reads failed at first try, %d connections reached the killed worker's address %s",
				other, trap.Load(), addr)
		}
	})
}

// midLoad runs a bounded load of writes and reads over urls, calls lose
// (which loses the first url's dispatcher) after 1.5 s, goes on for 2 s and
// checks that no call failed beyond its one retry on the other dispatcher
// and that every acknowledged write is read back through survivor.
func midLoad(t *testing.T, c *failover, name string, urls []string, survivor string, seeded int, lose func()) {
	l := &load{c: c, name: name, urls: urls, seeded: seeded}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 { // bounded: a shared 2-core machine
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx, g)
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	before := l.ops.Load()
	lose()
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d operations (%d before the loss): %d reads, %d writes acknowledged, %d retried on the other dispatcher",
		l.ops.Load(), before, l.reads.Load(), len(l.acked), l.retries.Load())
	if len(l.failed) > 0 {
		t.Errorf("%d calls failed after their one retry: %v", len(l.failed), head(l.failed, 10))
	}
	if l.ops.Load() <= before || l.reads.Load() == 0 || len(l.acked) == 0 {
		t.Fatalf("the load did not go on after the loss: %d operations before, %d in all", before, l.ops.Load())
	}
	// 0 lost writes: every acknowledged write is stored, read through the
	// survivor.
	eventually(t, 30*time.Second, func() error {
		missing := 0
		for _, id := range l.acked {
			if st, _, err := c.do(survivor, http.MethodGet, "/item/fetch/"+id, ""); err != nil || st != http.StatusOK {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged writes not found through %s", missing, len(l.acked), survivor)
		}
		return nil
	})
}

// seedID is the id of the i-th seeded item.
func seedID(i int) string { return fmt.Sprintf("seed-%03d", i) }

// addBody is an add request with a client-chosen id.
func addBody(id, name string) string {
	return fmt.Sprintf(`{"id":%q,"name":%q,"category":"CATEGORY_ELECTRONICS","priceCents":100,"state":"STATE_NEW"}`, id, name)
}

// failover is a caller of several dispatchers with the stack's key.
type failover struct{ hc *http.Client }

func scaleClient(s *stack.Stack) *failover {
	return &failover{hc: &http.Client{Timeout: 10 * time.Second, Transport: stacktest.Bearer(s.APIKey(), &http.Transport{})}}
}

// do sends one REST call to base and returns its status and body.
func (f *failover) do(base, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// retriable is what a client behind a load balancer retries elsewhere: the
// dispatcher could not be reached, or answered 503.
func retriable(status int, err error) bool {
	return err != nil || status == http.StatusServiceUnavailable
}

// load is the mid-load part's traffic: writes of new items and reads of
// seeded ones, spread over the dispatchers, each call retried once on the
// other dispatcher when retriable.
type load struct {
	c       *failover
	name    string // prefix of the items' ids
	urls    []string
	seeded  int
	ops     atomic.Int64
	reads   atomic.Int64
	retries atomic.Int64

	mu     sync.Mutex
	acked  []string
	failed []string
}

func (l *load) run(ctx context.Context, g int) {
	for n := 0; ctx.Err() == nil; n++ {
		first := (g + n) % len(l.urls)
		write := n%2 == 0
		method, path, body := http.MethodGet, "/item/fetch/"+seedID(rand.IntN(l.seeded)), ""
		id := fmt.Sprintf("%s-%d-%04d", l.name, g, n)
		if write {
			method, path, body = http.MethodPost, "/item/add", addBody(id, "load")
		}
		st, raw, err := l.c.do(l.urls[first], method, path, body)
		if retriable(st, err) {
			l.retries.Add(1)
			st, raw, err = l.c.do(l.urls[(first+1)%len(l.urls)], method, path, body)
		}
		l.ops.Add(1)
		ok := err == nil && st/100 == 2
		l.mu.Lock()
		switch {
		case !ok:
			l.failed = append(l.failed, fmt.Sprintf("%s %s: %d %s %v", method, path, st, raw, err))
		case write:
			l.acked = append(l.acked, id)
		}
		l.mu.Unlock()
		if !write {
			l.reads.Add(1)
		}
		time.Sleep(10 * time.Millisecond) // bounded load
	}
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }

// listsWorkers checks that the dispatcher at base lists exactly ids in its
// /readyz details (asked with the stack's key, an operator's).
func listsWorkers(s *stack.Stack, base string, ids []string) error {
	got, err := readyWorkers(s, base)
	if err != nil {
		return err
	}
	var names []string
	for _, w := range got {
		names = append(names, w["id"])
	}
	sort.Strings(names)
	if !slices.Equal(names, ids) {
		return fmt.Errorf("%s/readyz lists workers %v, want %v", base, names, ids)
	}
	return nil
}

// readyWorkers are the workers (id, address) in the /readyz details of the
// dispatcher at base.
func readyWorkers(s *stack.Stack, base string) ([]map[string]string, error) {
	st, raw, err := scaleClient(s).do(base, http.MethodGet, "/readyz", "")
	if err != nil {
		return nil, err
	}
	var body struct {
		Workers []map[string]any `json:"workers"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("/readyz %d: %w: %s", st, err, raw)
	}
	var out []map[string]string
	for _, w := range body.Workers {
		id, _ := w["id"].(string)
		addr, _ := w["address"].(string)
		out = append(out, map[string]string{"id": id, "address": addr})
	}
	return out, nil
}

// workerAddress is the host:port a dispatcher calls worker id on.
func workerAddress(t testing.TB, s *stack.Stack, base, id string) string {
	t.Helper()
	ws, err := readyWorkers(s, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w["id"] == id {
			u, err := url.Parse(w["address"])
			if err != nil {
				t.Fatal(err)
			}
			return u.Host
		}
	}
	t.Fatalf("%s not in %v", id, ws)
	return ""
}

// listenCounting listens on addr (a dead worker's) and counts the
// connections made to it; the count is 0 if nobody calls.
func listenCounting(t testing.TB, addr string) *atomic.Int64 {
	t.Helper()
	var ln net.Listener
	var err error
	// The killed process's socket goes with it; the port may take a moment.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on the killed worker's address %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	n := &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return n
}

// buildWorker builds the worker binary once for the test.
func buildWorker(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	start := time.Now()
	build := exec.Command("go", "build", "-o", bin, "github.com/pawnshop/auction/services/worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	t.Logf("built the worker in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// startDispatcherProcess builds and starts the dispatcher binary beside s
// (its backends, keys and registry of workers) on a free port and returns
// its base URL; the test's end kills it if it still runs.
func startDispatcherProcess(t testing.TB, s *stack.Stack, id string) (string, *exec.Cmd) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dispatcher")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pawnshop/auction/services/dispatcher").CombinedOutput(); err != nil {
		t.Fatalf("build dispatcher: %v\n%s", err, out)
	}
	t.Logf("built the dispatcher in %s", time.Since(start).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	env, err := s.DispatcherEnv(map[string]string{"HTTP_ADDR": addr, "CLUSTER_ADDR": "127.0.0.1:0", "DISPATCHER_ID": id})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return "http://" + addr, cmd
}

// startWorkerProcess starts the worker binary as a process joining s (every
// dispatcher in its DISPATCHER_URL list); the test's end kills it if it
// still runs.
func startWorkerProcess(t testing.TB, s *stack.Stack, bin, id string) *exec.Cmd {
	t.Helper()
	env, err := s.WorkerEnv(id)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Logf("kill %s: %v", id, err)
		}
		_ = cmd.Wait()
	})
	return cmd
}

// TestReplayLeaseSpansDispatchers: with the broker down, writes through two
// dispatchers go to the one write buffer of the deployment; one dispatcher
// at a time holds its replay lease, the other takes it over when the holder
// stops, and once the broker is back every buffered write is stored.
func TestReplayLeaseSpansDispatchers(t *testing.T) {
	s := stacktest.Start(t, stack.Config{Dispatchers: 2, Workers: 1, PublishTimeout: 150 * time.Millisecond, ReplayInterval: 200 * time.Millisecond})
	fault := injectBrokerFault(t, s)
	r := s.EmbeddedRedis().Miniredis()
	c := scaleClient(s)
	ds := s.Dispatchers()
	fault.on.Store(true)
	var ids []string
	for i := range 20 {
		d := ds[i%2]
		id := fmt.Sprintf("lease-%02d", i)
		st, raw, err := c.do(d.URL(), http.MethodPost, "/item/add", addBody(id, "lease"))
		if err != nil || st != http.StatusAccepted || !strings.Contains(string(raw), "WRITE_STATUS_BUFFERED") {
			t.Fatalf("add %s through %s, broker down: %d %s %v", id, d.ID, st, raw, err)
		}
		ids = append(ids, id)
	}
	// One holder, for as long as it runs.
	owners := map[string]int{}
	for range 20 {
		if v, err := r.Get("auction:wbuf:lease"); err == nil {
			owners[v]++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(owners) != 1 {
		t.Fatalf("lease holders over 1 s: %v, want one", owners)
	}
	var holder, other *stack.Dispatcher
	for _, d := range ds {
		if owners[d.ID] > 0 {
			holder = d
		} else {
			other = d
		}
	}
	if holder == nil || other == nil {
		t.Fatalf("lease held by %v, not one of the stack's dispatchers", owners)
	}
	if n := streamLen(t, r, "auction:wbuf:events"); n != len(ids) {
		t.Errorf("the write buffer holds %d events, want %d (both dispatchers' writes)", n, len(ids))
	}
	// The holder stops (as a rolling update stops it); the other takes the
	// lease over once it expires, while the holder may still be flushing
	// its producer.
	stopping := time.Now()
	stopDone := make(chan error, 1)
	go func() { stopDone <- s.StopDispatcher(context.Background(), holder) }()
	eventually(t, 5*time.Second, func() error {
		if v, _ := r.Get("auction:wbuf:lease"); v != other.ID {
			return fmt.Errorf("lease held by %q, want %s", v, other.ID)
		}
		return nil
	})
	t.Logf("%s held the lease; %s took it %s after the holder began to stop", holder.ID, other.ID, time.Since(stopping).Round(time.Millisecond))
	fault.on.Store(false)
	back := time.Now()
	defer func() {
		t.Logf("all stored %s after the broker came back", time.Since(back).Round(time.Millisecond))
		if err := <-stopDone; err != nil {
			t.Errorf("stop %s: %v", holder.ID, err)
		}
		t.Logf("%s stopped %s after it began to", holder.ID, time.Since(stopping).Round(time.Millisecond))
	}()
	eventually(t, 30*time.Second, func() error {
		for _, id := range ids {
			if st, _, err := c.do(other.URL(), http.MethodGet, "/item/fetch/"+id, ""); err != nil || st != http.StatusOK {
				return fmt.Errorf("%s through %s: %d %v", id, other.ID, st, err)
			}
		}
		return nil
	})
}
