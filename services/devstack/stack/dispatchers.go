package stack

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	dredis "github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// MaxDispatchers bounds Config.Dispatchers: enough to exercise a shared
// view of the workers, few enough for one machine's ports and memory.
const MaxDispatchers = 16

// Dispatcher is one of the stack's dispatchers: its own public and cluster
// listeners and DISPATCHER_ID, on the stack's shared Kafka and Redis (the
// workers' membership, the write buffer and its replay lease live there, so
// every dispatcher sees every worker and any one may replay).
type Dispatcher struct {
	// ID is its DISPATCHER_ID.
	ID string
	// index is its place in the stack (0: the first, on Config.HTTPAddr).
	index      int
	app        *fx.App
	server     *dispatcher.Server
	buffer     *dredis.WriteBuffer
	url        string
	clusterURL string
	stopped    bool
}

// URL is the dispatcher's public base URL.
func (d *Dispatcher) URL() string { return d.url }

// ClusterURL is the dispatcher's cluster listener, where workers join.
func (d *Dispatcher) ClusterURL() string { return d.clusterURL }

// dispatcherID is the DISPATCHER_ID of the stack's i-th dispatcher: the
// first keeps the name it always had.
func dispatcherID(i int) string {
	if i == 0 {
		return "devstack-dispatcher"
	}
	return "devstack-dispatcher-" + strconv.Itoa(i+1)
}

// DispatcherHTTPAddrs are the public listen addresses of c's dispatchers:
// the first on c.HTTPAddr, the next ones on the following ports (port+1,
// port+2, …), or each on a free port when c.HTTPAddr's port is 0. The dev
// stack's port check and the stack use it alike.
func DispatcherHTTPAddrs(c Config) []string {
	n := max(c.Dispatchers, 1)
	out := []string{c.HTTPAddr}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	p, perr := strconv.Atoi(port)
	for i := 1; i < n; i++ {
		switch {
		case err != nil || perr != nil:
			out = append(out, c.HTTPAddr) // reported with the configuration
		case p == 0:
			out = append(out, net.JoinHostPort(host, "0"))
		default:
			out = append(out, net.JoinHostPort(host, strconv.Itoa(p+i)))
		}
	}
	return out
}

// startDispatcherAt starts the stack's i-th dispatcher on httpAddr and
// clusterAddr. The first shares the stack's registry (it serves the
// workers' and the feeder's series at /metrics); the others have one of
// their own, since one registry cannot hold two dispatchers' series.
func (s *Stack) startDispatcherAt(ctx context.Context, i int, httpAddr, clusterAddr string) (*Dispatcher, error) {
	id := dispatcherID(i)
	cfg, err := s.dispatcherConfigWith(map[string]string{"HTTP_ADDR": httpAddr, "CLUSTER_ADDR": clusterAddr, "DISPATCHER_ID": id})
	if err != nil {
		return nil, err
	}
	log := s.log.With("service", "dispatcher")
	var reg interface {
		prometheus.Registerer
		prometheus.Gatherer
	} = s.metrics
	if i > 0 {
		log = log.With("dispatcher", id)
		reg = telemetry.NewRegistry()
	}
	d := &Dispatcher{ID: id, index: i}
	var csrv *dispatcher.ClusterServer
	d.app = service.New(dispatcher.App(cfg, log), log, reg, reg, fx.Populate(&d.server, &csrv, &d.buffer))
	if err := d.app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start dispatcher %s: %w", id, err)
	}
	d.url, d.clusterURL = d.server.URL(), csrv.URL()
	return d, nil
}

// startDispatchers starts Config.Dispatchers dispatchers (at least one).
func (s *Stack) startDispatchers(ctx context.Context) error {
	for i, addr := range DispatcherHTTPAddrs(s.cfg) {
		cluster := "127.0.0.1:0"
		if i == 0 && s.cfg.ClusterAddr != "" {
			cluster = s.cfg.ClusterAddr
		}
		d, err := s.startDispatcherAt(ctx, i, addr, cluster)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.dispatchers = append(s.dispatchers, d)
		s.mu.Unlock()
	}
	s.useForDrain()
	return nil
}

// useForDrain points the drain (drain.go) at the first running dispatcher:
// its write buffer is the stack's shared one.
func (s *Stack) useForDrain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.server, s.buffer = nil, nil
	for _, d := range s.dispatchers {
		if !d.stopped {
			s.server, s.buffer = d.server, d.buffer
			return
		}
	}
}

// Dispatchers returns the stack's dispatchers in order, stopped ones
// included (see StopDispatcher).
func (s *Stack) Dispatchers() []*Dispatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Dispatcher(nil), s.dispatchers...)
}

// URLs are the public base URLs of the stack's dispatchers, in order.
func (s *Stack) URLs() []string {
	var out []string
	for _, d := range s.Dispatchers() {
		out = append(out, d.url)
	}
	return out
}

// clusterURLs are the cluster listeners of the running dispatchers, in
// order: a worker's DISPATCHER_URL list.
func (s *Stack) clusterURLs() []string {
	var out []string
	for _, d := range s.Dispatchers() {
		if !d.stopped {
			out = append(out, d.clusterURL)
		}
	}
	return out
}

// StopDispatcher stops one dispatcher gracefully, as a rolling update or a
// scale-down does: its listeners close (calls in flight finish), the others
// keep serving. Its workers go on through the others. The stack's Close
// drains through a dispatcher still running.
func (s *Stack) StopDispatcher(ctx context.Context, d *Dispatcher) error {
	s.mu.Lock()
	if d.stopped {
		s.mu.Unlock()
		return nil
	}
	d.stopped = true
	s.mu.Unlock()
	s.useForDrain()
	if err := d.app.Stop(ctx); err != nil {
		return fmt.Errorf("stop dispatcher %s: %w", d.ID, err)
	}
	return nil
}

// stopPublicListeners stops the public listeners of every running
// dispatcher but the one the drain uses (it stops that one itself), so that
// no write arrives anywhere while the stack drains.
func (s *Stack) stopPublicListeners(ctx context.Context) error {
	for _, d := range s.Dispatchers() {
		if d.stopped || d.server == s.server {
			continue
		}
		if err := d.server.Stop(ctx); err != nil {
			return fmt.Errorf("drain: stop the API listener of %s: %w", d.ID, err)
		}
	}
	return nil
}

// DispatcherEnv is the environment (KEY=value) of a dispatcher process
// beside the stack's: its Kafka, Redis, API keys, cluster token and
// certificate, with extra's variables over them (give it at least its own
// HTTP_ADDR, CLUSTER_ADDR and DISPATCHER_ID). It shares the stack's registry
// of workers, so it routes reads to them all. Tests kill such a process to
// lose a dispatcher abruptly.
func (s *Stack) DispatcherEnv(extra map[string]string) ([]string, error) {
	env, err := s.dispatcherEnv(extra)
	if err != nil {
		return nil, err
	}
	return environ(env), nil
}

// joinURLs is the DISPATCHER_URL of a worker: every running dispatcher's
// cluster listener, comma-separated, the first first.
func (s *Stack) joinURLs() string { return strings.Join(s.clusterURLs(), ",") }
