// Package service wires the dispatcher's packages into one fx application.
// The production binary (services/dispatcher) and the dev stack both use it.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"buf.build/go/protovalidate"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/redisclient"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/adapters/kafka"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/config"
	"github.com/pawnshop/auction/services/dispatcher/ports"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"
)

// Module is the dispatcher. It needs a config.Config, a *slog.Logger, and a
// prometheus.Registerer and Gatherer for its metrics. Start order: topics,
// the audit log, the background loops (eviction, fraud list, write buffer
// follower and replay), then the HTTP server; stop runs in reverse.
var Module = fx.Module("dispatcher",
	telemetry.ScopeMetrics,
	fx.Provide(
		producedCounter,
		ports.NewMetrics,
		fx.Annotate(newProducer, fx.As(fx.Self()), fx.As(new(app.Broker))),
		newRedis,
		newWriteBuffer,
		fx.Annotate(newPublisher, fx.As(new(app.Publisher))),
		fx.Annotate(newFraudList, fx.As(fx.Self()), fx.As(new(app.Screen))),
		fx.Annotate(newIDClaims, fx.As(new(app.IDClaims))),
		newWrites,
		newMembership,
		newReads,
		fx.Annotate(newAuditLog, fx.As(fx.Self()), fx.As(new(ports.Auditor))),
		protovalidate.New,
		ports.NewAuctionHandler,
		newClusterTLS,
		newMembershipHandler,
		fx.Annotate(newReadiness, fx.As(new(ports.Readiness))),
		newAuthenticator,
		newHandler,
		newServer,
		newClusterServer,
	),
	fx.Invoke(ensureTopics, runAudit, runMembership, runBackground, registerStateMetrics, serveCluster, serve),
)

// App is a dispatcher application's options for cfg and log: the binary and
// the dev stack both build it through service.New.
func App(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(fx.Supply(cfg, log), Module)
}

func newWriteBuffer(rdb *goredis.Client, c config.Config, log *slog.Logger) *redis.WriteBuffer {
	return redis.NewWriteBuffer(rdb, c.Name, c.DispatcherID, log.With("component", "write-buffer"))
}

func newPublisher(b app.Broker, buf *redis.WriteBuffer, c config.Config, log *slog.Logger) *app.DurablePublisher {
	return app.NewDurablePublisher(b, buf, c.PublishTimeout, log.With("component", "publisher"))
}

// newWrites publishes the writes to the deployment's topics.
func newWrites(pub app.Publisher, screen app.Screen, claims app.IDClaims, c config.Config) *app.Writes {
	return app.NewWrites(topics.For(c.Name), pub, screen, claims)
}

// newIDClaims keeps the claims of client-chosen item ids in the shared Redis,
// under the deployment's name.
func newIDClaims(rdb *goredis.Client, c config.Config) *redis.IDClaims {
	return redis.NewIDClaims(rdb, c.Name)
}

func newFraudList(rdb *goredis.Client, c config.Config, log *slog.Logger) *redis.FraudList {
	return redis.NewFraudList(rdb, fraudlist.KeysFor(c.Name), c.FraudReload, log.With("component", "fraud-list"))
}

// newAuditLog publishes the audit records through a producer of their own,
// batching them for AUDIT_LINGER; runAudit starts and closes it.
func newAuditLog(c config.Config, produced *prometheus.CounterVec, log *slog.Logger) (*kafka.AuditLog, error) {
	return kafka.NewAuditLog(producerConfig(c, "dispatcher-audit", c.AuditLinger, produced), topics.For(c.Name).LongTermStorage,
		c.AuditQueueSize, log.With("component", "audit"))
}

// newHandler is the public edge: every route and protocol of the API, with
// health, metrics and docs.
func newHandler(c config.Config, authn ports.Authenticator, a *ports.AuctionHandler, v protovalidate.Validator, r ports.Readiness,
	au ports.Auditor, pm *ports.Metrics, g prometheus.Gatherer, log *slog.Logger) (http.Handler, error) {
	cfg := handlerConfig(c)
	cfg.Auth, cfg.AuthNone = authn, c.Auth.None()
	return ports.NewHandler(cfg, a, v, r, au, pm, g, log)
}

// handlerConfig is the public edge's part of the configuration.
func handlerConfig(c config.Config) ports.HandlerConfig {
	return ports.HandlerConfig{
		MaxBodyBytes:       c.MaxBodyBytes,
		RequestTimeout:     c.RequestTimeout,
		AllowUnknownFields: !c.JSON.RejectUnknownFields,
		Edge: ports.EdgeConfig{
			MaxInflightReads:  c.MaxInflightReads,
			MaxInflightWrites: c.MaxInflightWrites,
			QueueReads:        c.AdmissionQueueReads,
			QueueWrites:       c.AdmissionQueueWrites,
			QueueWait:         c.AdmissionQueueWait,
			RatePerClient:     float64(c.RateLimitPerClient),
			RateBurst:         c.RateLimitBurst,
			ClientIPHeader:    c.ClientIPHeader,
			CORSOrigins:       c.CORSAllowedOrigins,
		},
	}
}

// producerConfig is the settings of the dispatcher's producers: each
// delivery is counted in produced by topic and result.
func producerConfig(c config.Config, clientID string, linger time.Duration, produced *prometheus.CounterVec) kafkapub.Config {
	return kafkapub.Config{Brokers: c.Brokers(), DeliveryTimeout: 30 * time.Second, Linger: linger, ClientID: clientID, Security: c.Kafka,
		OnDelivery: func(topic string, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			produced.WithLabelValues(topic, result).Inc()
		}}
}

// newProducer is the events' producer: a write waits for its event's
// acknowledgement, so it batches for 2 ms only.
func newProducer(lc fx.Lifecycle, c config.Config, produced *prometheus.CounterVec, log *slog.Logger) (*kafkapub.Producer, error) {
	p, err := kafkapub.New(producerConfig(c, "dispatcher", 2*time.Millisecond, produced), log.With("component", "kafka"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) { p.Close(ctx) }))
	return p, nil
}

func newRedis(lc fx.Lifecycle, c config.Config, log *slog.Logger) (*goredis.Client, error) {
	rdb, err := redisclient.New(c.RedisURL, log, redisclient.WithCAFile(c.RedisCAFile))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(rdb.Close))
	return rdb, nil
}

// ensureTopics creates the topics the dispatcher publishes to (the
// deployment's: "<CLUSTER_NAME>.items", ...), so none is
// left to broker auto-creation. A broker that is down does not stop the
// dispatcher from starting: writes are buffered until it is back.
func ensureTopics(lc fx.Lifecycle, c config.Config, log *slog.Logger) {
	lc.Append(fx.StartHook(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		names := topics.For(c.Name).All()
		if err := kafkaadmin.EnsureTopics(ctx, c.Brokers(), c.Kafka, kafkaadmin.TopicSpec{Partitions: c.TopicPartitions, Replication: c.TopicReplication}, names...); err != nil {
			log.Error("could not ensure topics; continuing (writes are buffered while the broker is away)", "err", err)
		}
	}))
}

func runAudit(lc fx.Lifecycle, a *kafka.AuditLog) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { a.Start(); return nil },
		OnStop:  func(ctx context.Context) error { a.Close(ctx); return nil },
	})
}

// runBackground runs the dispatcher's loops from start to stop: the fraud
// list follower, the write buffer's replay job and
// its append follower.
func runBackground(lc fx.Lifecycle, sd fx.Shutdowner, f *redis.FraudList, buf *redis.WriteBuffer, b app.Broker, c config.Config, log *slog.Logger) {
	replayer := app.NewReplayer(buf, b, c.ReplayInterval, c.PublishTimeout, log.With("component", "replay"))
	service.Background(lc, sd, log,
		service.Forever("fraud-list", f.Run),
		service.Forever("write-buffer-follower", buf.Follow),
		service.Forever("replay", replayer.Run))
}

// Server is the dispatcher's listening HTTP server.
type Server struct{ *httpserver.Server }

func newServer(c config.Config, h http.Handler, log *slog.Logger) *Server {
	return &Server{httpserver.New("dispatcher", c.HTTPAddr, h, log,
		httpserver.WithBodyReadTimeout(c.BodyReadTimeout), httpserver.WithMaxConnections(c.MaxConnections), httpserver.WithTLS(c.TLS))}
}

// ClusterServer is the dispatcher's cluster listener (CLUSTER_ADDR): the
// workers' MembershipService, under mutual TLS unless AUTH_MODE=none left
// the cluster without it.
type ClusterServer struct{ *httpserver.Server }

func newClusterServer(c config.Config, h *ports.MembershipHandler, v protovalidate.Validator, src *clustertls.Source, au ports.Auditor, log *slog.Logger) *ClusterServer {
	handler := ports.NewClusterHandler(h, v, c.MaxBodyBytes, au)
	if src == nil {
		return &ClusterServer{httpserver.New("dispatcher-cluster", c.Cluster.Addr, handler, log)}
	}
	return &ClusterServer{httpserver.New("dispatcher-cluster", c.Cluster.Addr, clustertls.WithPeer(handler), log, src.ServerOptions()...)}
}

// serveCluster starts the cluster listener before the public one and stops
// it after.
func serveCluster(lc fx.Lifecycle, s *ClusterServer) {
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
}

// serve starts the server last, once everything it serves has started, and
// drains it first at stop.
func serve(lc fx.Lifecycle, s *Server) {
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
}

// readiness reports the dispatcher ready when a Kafka broker answers and at
// least READY_MIN_WORKERS workers joined. Its detail shows the workers, the
// fraud list's age, the write buffer's depth and the audit counters.
type readiness struct {
	p          *kafkapub.Producer
	m          *app.Membership
	f          *redis.FraudList
	buf        *redis.WriteBuffer
	audit      *kafka.AuditLog
	minWorkers int
}

func newReadiness(p *kafkapub.Producer, m *app.Membership, f *redis.FraudList, buf *redis.WriteBuffer, a *kafka.AuditLog, c config.Config) *readiness {
	return &readiness{p: p, m: m, f: f, buf: buf, audit: a, minWorkers: c.ReadyMinWorkers}
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
	detail["membership"] = r.m.RegistryStatus()
	detail["fraudList"] = r.f.Status()
	detail["writeBuffer"] = r.buf.Status(ctx)
	detail["audit"] = r.audit.Stats()
	return ok, detail
}
