// Package service wires the dispatcher's packages into one fx application.
// The production binary (services/dispatcher) and the dev stack both use it.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"buf.build/go/protovalidate"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/services/dispatcher/adapters/kafka"
	"github.com/pawnshop/auction/services/dispatcher/adapters/workerconnect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/config"
	"github.com/pawnshop/auction/services/dispatcher/ports"
	"go.uber.org/fx"
)

// Module is the dispatcher. It needs a config.Config and a *slog.Logger.
var Module = fx.Module("dispatcher",
	fx.Provide(
		newProducer,
		func(p *kafkapub.Producer, c config.Config) app.Publisher {
			return kafka.NewPublisher(p, c.PublishTimeout)
		},
		app.NewWrites,
		func(c config.Config, log *slog.Logger) *app.Membership {
			return app.NewMembership(app.MembershipConfig{
				ClusterToken:      c.ClusterToken.Reveal(),
				HeartbeatInterval: c.HeartbeatInterval,
				MissedHeartbeats:  c.MissedHeartbeats,
			}, workerconnect.Factory(workerconnect.NewHTTPClient()), log.With("component", "membership"))
		},
		func(m *app.Membership, c config.Config) *app.Reads { return app.NewReads(m, c.ReadAttemptTimeout) },
		protovalidate.New,
		ports.NewAuctionHandler,
		ports.NewMembershipHandler,
		newReadiness,
		func(r *readiness) ports.Readiness { return r },
		func(c config.Config, a *ports.AuctionHandler, m *ports.MembershipHandler, v protovalidate.Validator, r ports.Readiness, log *slog.Logger) (http.Handler, error) {
			return ports.NewHandler(ports.HandlerConfig{MaxBodyBytes: c.MaxBodyBytes, RequestTimeout: c.RequestTimeout}, a, m, v, r, log)
		},
		newServer,
	),
	fx.Invoke(runEviction, func(*Server) {}),
)

func newProducer(lc fx.Lifecycle, c config.Config, log *slog.Logger) (*kafkapub.Producer, error) {
	p, err := kafkapub.New(kafkapub.Config{Brokers: c.Brokers(), DeliveryTimeout: 30 * time.Second, Linger: 2 * time.Millisecond, ClientID: "dispatcher"},
		log.With("component", "kafka"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) { p.Close(ctx) }))
	return p, nil
}

func runEviction(lc fx.Lifecycle, m *app.Membership) {
	ctx, cancel := context.WithCancel(context.Background())
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { go m.RunEviction(ctx); return nil },
		OnStop:  func(context.Context) error { cancel(); return nil },
	})
}

// Server is the dispatcher's listening HTTP server.
type Server struct{ *httpserver.Server }

func newServer(lc fx.Lifecycle, c config.Config, h http.Handler, log *slog.Logger) *Server {
	s := &Server{httpserver.New("dispatcher", c.HTTPAddr, h, log)}
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s
}

// readiness reports the dispatcher ready when a Kafka broker answers and at
// least READY_MIN_WORKERS workers joined; it lists the workers as detail.
type readiness struct {
	p          *kafkapub.Producer
	m          *app.Membership
	minWorkers int
}

func newReadiness(p *kafkapub.Producer, m *app.Membership, c config.Config) *readiness {
	return &readiness{p: p, m: m, minWorkers: c.ReadyMinWorkers}
}

func (r *readiness) Ready(ctx context.Context) (bool, map[string]any) {
	detail := map[string]any{}
	ok := true
	if err := r.p.Ping(ctx); err != nil {
		ok = false
		detail["kafka"] = err.Error()
	} else {
		detail["kafka"] = "ok"
	}
	var workers []map[string]any
	joined := r.m.Workers()
	if len(joined) < r.minWorkers {
		ok = false
		detail["workersWanted"] = r.minWorkers
	}
	for _, w := range joined {
		workers = append(workers, map[string]any{"id": w.ID, "address": w.Address, "lastSeen": w.LastSeen.UTC().Format(time.RFC3339Nano)})
	}
	detail["workers"] = workers
	return ok, detail
}
