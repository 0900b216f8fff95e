// Package service wires the worker's packages into one fx application. The
// production binary (services/worker) and the dev stack both use it.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	connectvalidate "connectrpc.com/validate"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/connectlimit"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/adapters/dispatcherconnect"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/pawnshop/auction/services/worker/config"
	"github.com/pawnshop/auction/services/worker/ports"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
)

// ExitRejected is the exit status of a worker whose join was rejected.
const ExitRejected = 3

// Module is a worker. It needs a config.Config, a *slog.Logger, and a
// prometheus.Registerer and Gatherer for its metrics (served at /metrics). Start
// order: MongoDB (ping, indexes), topics, ingest, bind the RPC port, then
// join; the RPC server serves only once joined. Stop runs in reverse: leave,
// drain reads, drain ingest (store and commit), disconnect.
var Module = fx.Module("worker",
	telemetry.ScopeMetrics,
	fx.Provide(
		fx.Annotate(newStore, fx.As(fx.Self()), fx.As(new(app.ItemReader))),
		app.NewFetch,
		protovalidate.New,
		newDeadLetterProducer,
		newIngest,
		newConsumer,
		ports.NewWorkerHandler,
		newClusterTLS,
		newServer,
		newMembership,
	),
	fx.Invoke(openStore, runMigration, ensureTopics, runConsumer, runMembership),
)

// App is a worker application's options for cfg and log: the binary and the
// dev stack both build it through service.New.
func App(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(fx.Supply(cfg, log), Module)
}

// newStore returns the MongoDB store, not connected yet: openStore connects
// it when the application starts.
func newStore(reg prometheus.Registerer) (*mongo.Store, error) {
	metrics, err := mongo.NewStoreMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := new(mongo.Store)
	s.Metrics = metrics
	return s, nil
}

// openStore connects the store first at start (connect, ping, indexes) and
// disconnects it last at stop.
func openStore(lc fx.Lifecycle, s *mongo.Store, c config.Config) {
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := s.Open(ctx, c.MongoURI.Reveal(), c.Database()); err != nil {
				return err
			}
			return s.EnsureIndexes(ctx)
		},
		OnStop: s.Close,
	})
}

func newDeadLetterProducer(lc fx.Lifecycle, c config.Config, log *slog.Logger) (*kafkapub.Producer, error) {
	p, err := kafkapub.New(kafkapub.Config{Brokers: c.Brokers(), DeliveryTimeout: 30 * time.Second, ClientID: "worker-" + c.WorkerID, Security: c.Kafka},
		log.With("component", "kafka-dlq"))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) { p.Close(ctx) }))
	return p, nil
}

func newIngest(c config.Config, v protovalidate.Validator, s *mongo.Store, p *kafkapub.Producer, reg prometheus.Registerer, log *slog.Logger) (*app.Ingest, error) {
	t := topics.For(c.Name)
	metrics, err := kafka.NewDeadLetterMetrics(reg, t.Events())
	if err != nil {
		return nil, err
	}
	dlq := kafka.NewDeadLetters(p)
	dlq.Metrics = metrics
	return app.NewIngest(app.Flows(t, v), s, dlq, log.With("component", "ingest")), nil
}

// ensureTopics creates the deployment's event topics and their dead-letter
// topics ("<CLUSTER_NAME>.items", "<CLUSTER_NAME>.items.dlq", ...).
func ensureTopics(lc fx.Lifecycle, c config.Config) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		events := topics.For(c.Name).Events()
		names := append([]string{}, events...)
		for _, t := range events {
			names = append(names, topics.DeadLetter(t))
		}
		return kafkaadmin.EnsureTopics(ctx, c.Brokers(), c.Kafka, kafkaadmin.TopicSpec{Partitions: c.TopicPartitions, Replication: c.TopicReplication}, names...)
	}))
}

func newConsumer(c config.Config, in *app.Ingest, reg prometheus.Registerer, log *slog.Logger) (*kafka.Consumer, error) {
	metrics, err := kafka.NewConsumerMetrics(reg)
	if err != nil {
		return nil, err
	}
	cons, err := kafka.NewConsumer(kafka.ConsumerConfig{
		Brokers: c.Brokers(), Group: c.Group(), BatchSize: c.BatchSize, BatchWait: c.BatchWait, ClientID: "worker-" + c.WorkerID,
		Security: c.Kafka, LeadTopic: topics.For(c.Name).Items,
	}, in, topics.For(c.Name).Events(), log.With("component", "consumer"))
	if err != nil {
		return nil, err
	}
	cons.Metrics = metrics
	return cons, nil
}

// runConsumer runs the ingest loop from start to stop; on stop it lets the
// loop finish its batch, then stores and commits what it holds, and leaves
// the group. An ingest loop that fails stops the worker with exit code 1.
func runConsumer(lc fx.Lifecycle, cons *kafka.Consumer, sd fx.Shutdowner, log *slog.Logger) {
	// Appended before the loop's hook, so it runs after the loop stopped.
	lc.Append(fx.StopHook(func(ctx context.Context) error {
		return errors.Join(cons.Drain(ctx), cons.Close())
	}))
	service.Background(lc, sd, log, service.Loop{Name: "ingest", Run: cons.Run})
}

// newClusterTLS loads the cluster CA and the worker's certificate (nil
// without cluster TLS, AUTH_MODE=none). The certificate must name this
// worker in the deployment's trust domain: spiffe://<CLUSTER_NAME>/worker/<WORKER_ID>.
func newClusterTLS(c config.Config, log *slog.Logger) (*clustertls.Source, error) {
	if !c.MutualTLS() {
		log.Warn("the worker runs without cluster TLS (AUTH_MODE=none): its RPC port answers anyone who reaches it, over plain HTTP")
		return nil, nil
	}
	files := c.ClusterTLS
	files.TrustDomain = c.Name.String()
	src, err := clustertls.Load(files, log.With("component", "cluster-tls"))
	if err != nil {
		return nil, err
	}
	want := clustertls.Identity{Role: clustertls.RoleWorker, ID: c.WorkerID}
	if self, err := src.Self(); err != nil || self != want {
		return nil, fmt.Errorf("CLUSTER_TLS_CERT_FILE must name this worker (%s), it names %v (%v)", want.URIIn(files.Domain()), self, err)
	}
	return src, nil
}

// Server is the worker's RPC server: HTTPS with the cluster certificate
// under mutual TLS, else plain h2c.
type Server struct{ *httpserver.Server }

func newServer(c config.Config, h *ports.WorkerHandler, v protovalidate.Validator, g prometheus.Gatherer, src *clustertls.Source, log *slog.Logger) *Server {
	if src == nil {
		return &Server{httpserver.New("worker", c.HTTPAddr, newHandler(c, h, v, g, false), log)}
	}
	return &Server{httpserver.New("worker", c.HTTPAddr, clustertls.WithPeer(newHandler(c, h, v, g, true)), log, src.ServerOptions()...)}
}

// newHandler routes the worker's port: the WorkerService, health and
// metrics. A WorkerService request body is capped at MAX_BODY_BYTES, on
// the wire and once inflated: past the cap it is refused with
// resource_exhausted without reading or inflating the rest. Under mutual
// TLS (dispatcherOnly) its RPCs answer only a caller whose certificate, from
// the cluster CA, names a dispatcher; health and metrics answer probes.
func newHandler(c config.Config, h *ports.WorkerHandler, v protovalidate.Validator, g prometheus.Gatherer, dispatcherOnly bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	var interceptors []connect.Interceptor
	if dispatcherOnly {
		interceptors = append(interceptors, clustertls.RequireRole(clustertls.RoleDispatcher))
	}
	interceptors = append(interceptors, connectvalidate.NewInterceptor(connectvalidate.WithValidator(v)))
	path, rpc := clusterv1connect.NewWorkerServiceHandler(h,
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(int(c.MaxBodyBytes)),
		connectlimit.Gzip(c.MaxBodyBytes),
		// Small responses are not worth gzip's CPU.
		connect.WithCompressMinBytes(4096))
	mux.Handle(path, connectlimit.Body(rpc, c.MaxBodyBytes))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(clusterv1connect.WorkerServiceName)))
	return mux
}

func newMembership(c config.Config, s *Server, src *clustertls.Source, log *slog.Logger) *app.Membership {
	id := dispatcherconnect.Identity{WorkerID: c.WorkerID, Address: c.AdvertiseURL, ClusterToken: c.ClusterToken.Reveal()}
	httpClient := &http.Client{Timeout: 10 * time.Second}
	if src != nil {
		// The dispatcher is recognised by its certificate, not its host name.
		httpClient.Transport = clustertls.Transport(src.ClientConfig(clustertls.ExpectRole(clustertls.RoleDispatcher)))
	}
	client := &lazyDispatcher{id: id, urls: c.DispatcherURLs, server: s, http: httpClient}
	return app.NewMembership(client, log.With("component", "membership"))
}

// lazyDispatcher builds the membership client once the server is bound, so
// that a port-0 address is advertised as the real one.
type lazyDispatcher struct {
	once   sync.Once
	id     dispatcherconnect.Identity
	urls   []string
	server *Server
	http   *http.Client
	c      *dispatcherconnect.Client
}

func (l *lazyDispatcher) get() *dispatcherconnect.Client {
	l.once.Do(func() {
		if l.id.Address == "" {
			l.id.Address = l.server.URL()
		}
		l.c = dispatcherconnect.New(l.http, l.urls, l.id)
	})
	return l.c
}

func (l *lazyDispatcher) Join(ctx context.Context) (time.Duration, error) { return l.get().Join(ctx) }
func (l *lazyDispatcher) Heartbeat(ctx context.Context) (bool, error)     { return l.get().Heartbeat(ctx) }
func (l *lazyDispatcher) Leave(ctx context.Context) error                 { return l.get().Leave(ctx) }

// runMembership binds the RPC port at start, then joins in the background:
// once joined it serves and keeps the membership alive; rejected, it stops
// the application with ExitRejected. At stop the loop ends first, then the
// worker leaves (if it had joined) and its server drains.
func runMembership(lc fx.Lifecycle, m *app.Membership, s *Server, sd fx.Shutdowner, log *slog.Logger) {
	var joined atomic.Bool
	lc.Append(fx.Hook{
		OnStart: s.Listen,
		OnStop: func(ctx context.Context) error {
			if joined.Load() {
				m.Leave(ctx)
			}
			return s.Stop(ctx)
		},
	})
	service.Background(lc, sd, log, service.Loop{Name: "membership", Run: func(ctx context.Context) error {
		hb, err := m.Join(ctx)
		if err == nil {
			joined.Store(true)
			s.Serve()
			err = m.KeepAlive(ctx, hb)
		}
		if rej, ok := errors.AsType[*app.Rejected](err); ok {
			return service.Exit(ExitRejected, fmt.Errorf("the dispatcher rejected this worker: %s", rej.Reason))
		}
		return nil // the application is stopping
	}})
}
