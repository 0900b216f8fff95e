package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/adapters/workerconnect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/config"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	"github.com/pawnshop/auction/services/dispatcher/ports"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"
)

// newClusterTLS loads the cluster CA and the dispatcher's certificate (nil
// without cluster TLS, AUTH_MODE=none). The certificate must name a
// dispatcher in the deployment's trust domain, its CLUSTER_NAME.
func newClusterTLS(c config.Config, log *slog.Logger) (*clustertls.Source, error) {
	if !c.Cluster.MutualTLS() {
		log.Warn("the cluster runs without mutual TLS (AUTH_MODE=none): workers are admitted by CLUSTER_TOKEN alone and called over plain HTTP")
		return nil, nil
	}
	files := c.Cluster.TLS
	files.TrustDomain = c.Name.String()
	src, err := clustertls.Load(files, log.With("component", "cluster-tls"))
	if err != nil {
		return nil, err
	}
	if self, err := src.Self(); err != nil || self.Role != clustertls.RoleDispatcher {
		return nil, fmt.Errorf("CLUSTER_TLS_CERT_FILE must name a dispatcher (spiffe://%s/dispatcher/<id>), it names %v (%v)", files.Domain(), self, err)
	}
	return src, nil
}

// newMembership is this dispatcher's view of the workers, kept in the
// Redis all dispatchers of the deployment share (CLUSTER_NAME's keys).
func newMembership(c config.Config, rdb *goredis.Client, src *clustertls.Source, log *slog.Logger) *app.Membership {
	factory := workerconnect.Factory(workerconnect.NewHTTPClient(), c.WorkerResponseMaxBytes)
	if src != nil {
		factory = workerconnect.TLSFactory(src, c.WorkerResponseMaxBytes)
	}
	return app.NewMembership(app.MembershipConfig{
		ClusterToken:      c.Cluster.Token.Reveal(),
		Addresses:         domain.AddressRules{RequireHTTPS: src != nil, AllowLinkLocal: c.Cluster.AllowLinkLocal},
		HeartbeatInterval: c.HeartbeatInterval,
		MissedHeartbeats:  c.MissedHeartbeats,
	}, redis.NewRegistry(rdb, c.Name), factory, log.With("component", "membership"))
}

func newMembershipHandler(m *app.Membership, c config.Config, log *slog.Logger) *ports.MembershipHandler {
	return ports.NewMembershipHandler(m, ports.MembershipPolicy{
		RequireIdentity: c.Cluster.MutualTLS(),
		JoinRate:        c.Cluster.JoinRate,
		JoinBurst:       c.Cluster.JoinBurst,
	}, log.With("component", "membership"))
}

func newReads(m *app.Membership, c config.Config) *app.Reads {
	return app.NewReads(m, c.ReadAttemptTimeout)
}

// runMembership fills the dispatcher's view of the workers before the
// listeners open (a restarted dispatcher routes to every live worker from
// its first request), then keeps it in step until stop. A registry that
// cannot be listed at start is logged, not fatal: the view fills when it
// answers.
func runMembership(lc fx.Lifecycle, sd fx.Shutdowner, m *app.Membership, log *slog.Logger) {
	lc.Append(fx.StartHook(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := m.Sync(ctx); err != nil {
			log.Warn("cannot list the workers' registry at start; reads wait for it", "err", err)
		}
	}))
	service.Background(lc, sd, log, service.Forever("membership", m.Run))
}
