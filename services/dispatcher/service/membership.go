package service

import (
	"fmt"
	"log/slog"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/dispatcher/adapters/workerconnect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/config"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	"github.com/pawnshop/auction/services/dispatcher/ports"
	"go.uber.org/fx"
)

// newClusterTLS loads the cluster CA and the dispatcher's certificate (nil
// without cluster TLS, AUTH_MODE=none). The certificate must name a
// dispatcher.
func newClusterTLS(c config.Config, log *slog.Logger) (*clustertls.Source, error) {
	if !c.Cluster.MutualTLS() {
		log.Warn("the cluster runs without mutual TLS (AUTH_MODE=none): workers are admitted by CLUSTER_TOKEN alone and called over plain HTTP")
		return nil, nil
	}
	src, err := clustertls.Load(c.Cluster.TLS, log.With("component", "cluster-tls"))
	if err != nil {
		return nil, err
	}
	if self, err := src.Self(); err != nil || self.Role != clustertls.RoleDispatcher {
		return nil, fmt.Errorf("CLUSTER_TLS_CERT_FILE must name a dispatcher (spiffe://%s/dispatcher/<id>), it names %v (%v)", clustertls.TrustDomain, self, err)
	}
	return src, nil
}

func newMembership(c config.Config, src *clustertls.Source, log *slog.Logger) *app.Membership {
	factory := workerconnect.Factory(workerconnect.NewHTTPClient(), c.WorkerResponseMaxBytes)
	if src != nil {
		factory = workerconnect.TLSFactory(src, c.WorkerResponseMaxBytes)
	}
	return app.NewMembership(app.MembershipConfig{
		ClusterToken:      c.Cluster.Token.Reveal(),
		Addresses:         domain.AddressRules{RequireHTTPS: src != nil, AllowLinkLocal: c.Cluster.AllowLinkLocal},
		HeartbeatInterval: c.HeartbeatInterval,
		MissedHeartbeats:  c.MissedHeartbeats,
	}, factory, log.With("component", "membership"))
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

// runMembership keeps the dispatcher's view of the workers from start to
// stop: eviction of silent workers.
func runMembership(lc fx.Lifecycle, sd fx.Shutdowner, m *app.Membership, log *slog.Logger) {
	service.Background(lc, sd, log, service.Forever("eviction", m.RunEviction))
}
