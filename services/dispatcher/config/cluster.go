package config

import (
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/envconfig"
)

// MinClusterTokenBytes is the shortest CLUSTER_TOKEN accepted: 256 bits
// when it is random, too long to guess by trying Joins.
const MinClusterTokenBytes = 32

// ClusterConfig is the dispatcher's side of the cluster: its own listener
// for the workers' MembershipService, mutual TLS with the cluster CA, the
// optional shared token and the limits on joins.
type ClusterConfig struct {
	// Addr is the cluster listener (CLUSTER_ADDR), apart from the public one.
	Addr string
	// TLS names the cluster CA and the dispatcher's certificate and key;
	// all empty only with AUTH_MODE=none (then the listener is plain h2c and
	// workers join over http).
	TLS clustertls.Files
	// Token, when set, is also required from every worker (at least
	// MinClusterTokenBytes); required when TLS is off.
	Token envconfig.Secret
	// AllowLinkLocal admits link-local and metadata join addresses.
	AllowLinkLocal bool
	// JoinRate and JoinBurst limit Joins per remote address (token bucket).
	JoinRate  float64
	JoinBurst int
}

// MutualTLS reports whether the cluster runs mutual TLS.
func (c ClusterConfig) MutualTLS() bool { return c.TLS.CA != "" }

// loadCluster reads the cluster's variables. authMode is AUTH_MODE: the TLS
// files are required unless it is "none".
func loadCluster(l *envconfig.Loader, authMode string) ClusterConfig {
	c := ClusterConfig{
		Addr: l.Addr("CLUSTER_ADDR", "127.0.0.1:8081", "listen address of the cluster listener: the workers' MembershipService, mutual TLS"),
		TLS: clustertls.Files{
			CA:   l.String("CLUSTER_TLS_CA_FILE", "", "PEM file of the cluster CA that signs every dispatcher's and worker's certificate (reloaded when it changes; required unless AUTH_MODE=none)"),
			Cert: l.String("CLUSTER_TLS_CERT_FILE", "", "PEM certificate of this dispatcher, with the URI SAN spiffe://<CLUSTER_NAME>/dispatcher/<id> (reloaded when it changes)"),
			Key:  l.String("CLUSTER_TLS_KEY_FILE", "", "PEM private key of CLUSTER_TLS_CERT_FILE"),
		},
		// Read as a plain string: it is optional, which Loader.Secret is not.
		Token:          envconfig.Secret(l.String("CLUSTER_TOKEN", "", "shared secret workers also present to join, at least 32 bytes; optional under mutual TLS, required without it")),
		AllowLinkLocal: l.Bool("ALLOW_LINK_LOCAL_WORKERS", false, "admit join addresses that are link-local (169.254.0.0/16, fe80::/10) or cloud metadata endpoints"),
		JoinRate:       float64(l.Int("JOIN_RATE_LIMIT", 5, 1, 100000, "Joins per second accepted from one remote address (token bucket); beyond it resource_exhausted")),
		JoinBurst:      l.Int("JOIN_RATE_BURST", 10, 1, 100000, "Joins one remote address may make at once above JOIN_RATE_LIMIT"),
	}
	checkClusterTLS(l, c.TLS, authMode)
	if tok := c.Token.Reveal(); tok != "" && len(tok) < MinClusterTokenBytes {
		l.Fail("CLUSTER_TOKEN", "is %d bytes; at least %d are required (for example: openssl rand -hex 16)", len(tok), MinClusterTokenBytes)
	}
	if !c.MutualTLS() && c.Token == "" {
		l.Fail("CLUSTER_TOKEN", "is required when the cluster runs without mutual TLS (no CLUSTER_TLS_* files)")
	}
	return c
}

// checkClusterTLS requires all three files, or none with AUTH_MODE=none.
func checkClusterTLS(l *envconfig.Loader, f clustertls.Files, authMode string) {
	set := 0
	for _, v := range []string{f.CA, f.Cert, f.Key} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0 && authMode != AuthNone:
		l.Fail("CLUSTER_TLS_CA_FILE", "CLUSTER_TLS_CA_FILE, CLUSTER_TLS_CERT_FILE and CLUSTER_TLS_KEY_FILE are required unless AUTH_MODE=none")
	case set != 0 && set != 3:
		l.Fail("CLUSTER_TLS_CA_FILE", "CLUSTER_TLS_CA_FILE, CLUSTER_TLS_CERT_FILE and CLUSTER_TLS_KEY_FILE go together: set all three or none")
	}
}
