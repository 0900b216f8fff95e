package telemetry

import (
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
