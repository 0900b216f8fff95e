// Package service wires the feeder's packages into one fx application. The
// production binary (services/feeder) and the dev stack both use it.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/redisclient"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/pawnshop/auction/services/feeder/adapters/redis"
	"github.com/pawnshop/auction/services/feeder/adapters/s3"
	"github.com/pawnshop/auction/services/feeder/app"
	"github.com/pawnshop/auction/services/feeder/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
)

// ExitPassFailed is the exit status of a -once run whose pass failed.
const ExitPassFailed = 1

// Module is a feeder. It needs a config.Config, a *slog.Logger and a
// prometheus.Registerer (telemetry.Metrics), and provides the *app.Feeder so
// that a host (the dev stack) can also run a pass on demand. Started, it does a pass at once and then every FeedInterval
// until stopped; a failed pass is logged and retried at the next tick. With
// Config.Once it does a single pass and then shuts the application down, with
// exit code 0 or ExitPassFailed: do not set Once when hosting the module in a
// larger application, since the shutdown stops the whole application.
var Module = fx.Module("feeder",
	telemetry.ScopeMetrics,
	fx.Provide(
		newSource,
		newStore,
		newRefusals,
		newFeeder,
		newMetricsServer,
	),
	fx.Invoke(run, serveMetrics),
)

// App is a feeder application's options for cfg and log: the binary and the
// dev stack both build it through service.New.
func App(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(fx.Supply(cfg, log), Module)
}

// newSource returns the S3 source; it connects (AWS configuration and
// credentials) when the application starts.
func newSource(lc fx.Lifecycle, c config.Config, log *slog.Logger) *s3.Source {
	src := s3.New(s3.Config{Endpoint: c.S3Endpoint, Region: c.S3Region, Bucket: c.S3Bucket, Key: c.S3Key},
		log.With("component", "s3"))
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return src.Connect(ctx)
	}))
	return src
}

func newStore(lc fx.Lifecycle, c config.Config, log *slog.Logger) (*redis.Store, error) {
	rdb, err := redisclient.New(c.RedisURL, log, redisclient.WithCAFile(c.RedisCAFile))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(rdb.Close))
	return redis.New(rdb, fraudlist.KeysFor(c.Name)), nil
}

func newFeeder(c config.Config, src *s3.Source, sink *redis.Store, refusals *Refusals, log *slog.Logger) *app.Feeder {
	return app.NewFeeder(src, sink, app.Options{MaxBytes: c.MaxObjectBytes, MaxShrinkFraction: c.MaxShrinkFraction, Refusals: refusals},
		log.With("component", "feeder"))
}

// Refusals is the metric of refused lists,
// auction_feeder_lists_refused_total{reason}: reason is too_large,
// malformed, empty or shrink. It rises at every pass that refuses, so
// increase() over a few intervals says a bad list is waiting in S3.
type Refusals struct {
	counter *prometheus.CounterVec
}

// Refused implements app.Refusals.
func (r *Refusals) Refused(reason string) { r.counter.WithLabelValues(reason).Inc() }

func newRefusals(reg prometheus.Registerer) (*Refusals, error) {
	r := &Refusals{counter: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auction_feeder_lists_refused_total",
		Help: "Fraud lists refused by the feeder (the previous list stays in force), by reason: too_large, malformed, empty, shrink.",
	}, []string{"reason"})}
	// Every reason is exported from the start, at zero, so that a rate or
	// an alert on it has a series before the first refusal.
	for _, reason := range []string{app.ReasonTooLarge, app.ReasonMalformed, app.ReasonEmpty, app.ReasonShrink} {
		r.counter.WithLabelValues(reason)
	}
	if err := reg.Register(r.counter); err != nil {
		return nil, fmt.Errorf("register the feeder metrics: %w", err)
	}
	return r, nil
}

// run does the passes in the background from start to stop (the pass under
// way is waited for at stop); with Once, a single pass that then shuts the
// application down with 0 or ExitPassFailed.
func run(lc fx.Lifecycle, c config.Config, f *app.Feeder, sd fx.Shutdowner, log *slog.Logger) {
	if !c.Once {
		service.Background(lc, sd, log, service.Forever("feeder", func(ctx context.Context) { f.Run(ctx, c.FeedInterval) }))
		return
	}
	service.Background(lc, sd, log, service.Loop{Name: "feeder-once", Run: func(ctx context.Context) error {
		passCtx, cancel := context.WithTimeout(ctx, app.PassTimeout(c.FeedInterval))
		defer cancel()
		if _, err := f.RunOnce(passCtx); err != nil {
			return service.Exit(ExitPassFailed, err)
		}
		return service.Exit(0, nil)
	}})
}

// MetricsServer serves the feeder's /metrics and /healthz; its Server is nil
// when the feeder serves none (METRICS_ADDR off, or a -once run, which ends
// before anyone would scrape it).
type MetricsServer struct{ *httpserver.Server }

func newMetricsServer(c config.Config, g prometheus.Gatherer, log *slog.Logger) MetricsServer {
	if c.MetricsAddr == "" || c.Once {
		return MetricsServer{}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return MetricsServer{httpserver.New("feeder-metrics", c.MetricsAddr, mux, log, httpserver.WithTLS(c.MetricsTLS))}
}

// serveMetrics listens from start to stop.
func serveMetrics(lc fx.Lifecycle, s MetricsServer) {
	if s.Server != nil {
		lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	}
}
