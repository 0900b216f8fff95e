package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
)

// NewRegistry returns a metrics registry with the Go runtime and process
// collectors. Each process has one; services register their own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics supplies a service's fx application with where to register its
// metrics and what to serve at /metrics. The dev stack gives every service
// of the process the same registry, each worker's registerer labelling its
// series with the worker id.
func Metrics(reg prometheus.Registerer, gather prometheus.Gatherer) fx.Option {
	return fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer))), fx.Annotate(gather, fx.As(new(prometheus.Gatherer))))
}

// scoped is a Registerer that remembers what it registered, so that it can
// unregister it all when its application stops. A process that restarts a
// service in place (the dev stack, tests) can then register it again.
type scoped struct {
	prometheus.Registerer
	mu  sync.Mutex
	own []prometheus.Collector
}

func (s *scoped) Register(c prometheus.Collector) error {
	if err := s.Registerer.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.own = append(s.own, c)
	s.mu.Unlock()
	return nil
}

func (s *scoped) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

func (s *scoped) unregisterAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.own {
		s.Registerer.Unregister(c)
	}
	s.own = nil
}

// ScopeMetrics makes a service's metrics live as long as its application:
// every module decorates its Registerer with it.
var ScopeMetrics = fx.Decorate(func(lc fx.Lifecycle, reg prometheus.Registerer) prometheus.Registerer {
	s := &scoped{Registerer: reg}
	lc.Append(fx.StopHook(s.unregisterAll))
	return s
})
