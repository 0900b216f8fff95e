package config

import (
	"net"
	"net/url"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/envconfig"
)

// The values of AUTH_MODE.
const (
	AuthRequired = "required"
	AuthNone     = "none"
)

// MinClusterTokenBytes is the shortest CLUSTER_TOKEN accepted (as the
// dispatcher's).
const MinClusterTokenBytes = 32

// loadCluster reads the worker's side of the cluster: AUTH_MODE, the cluster
// TLS files (required unless AUTH_MODE=none), the optional token, the
// dispatcher's URL and the advertised one.
func loadCluster(l *envconfig.Loader, c *Config) {
	c.AuthMode = l.OneOf("AUTH_MODE", AuthRequired, []string{AuthRequired, AuthNone}, "authentication in the cluster: required (mutual TLS with the cluster CA), or none to run without it (development only)")
	c.ClusterTLS = clustertls.Files{
		CA:   l.String("CLUSTER_TLS_CA_FILE", "", "PEM file of the cluster CA (reloaded when it changes; required unless AUTH_MODE=none)"),
		Cert: l.String("CLUSTER_TLS_CERT_FILE", "", "PEM certificate of this worker, with the URI SAN spiffe://auction/worker/<WORKER_ID>: served on HTTP_ADDR and presented to the dispatcher (reloaded when it changes)"),
		Key:  l.String("CLUSTER_TLS_KEY_FILE", "", "PEM private key of CLUSTER_TLS_CERT_FILE"),
	}
	set := 0
	for _, v := range []string{c.ClusterTLS.CA, c.ClusterTLS.Cert, c.ClusterTLS.Key} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0 && c.AuthMode != AuthNone:
		l.Fail("CLUSTER_TLS_CA_FILE", "CLUSTER_TLS_CA_FILE, CLUSTER_TLS_CERT_FILE and CLUSTER_TLS_KEY_FILE are required unless AUTH_MODE=none")
	case set != 0 && set != 3:
		l.Fail("CLUSTER_TLS_CA_FILE", "CLUSTER_TLS_CA_FILE, CLUSTER_TLS_CERT_FILE and CLUSTER_TLS_KEY_FILE go together: set all three or none")
	}
	// Read as a plain string: it is optional, which Loader.Secret is not.
	c.ClusterToken = envconfig.Secret(l.String("CLUSTER_TOKEN", "", "shared secret also presented to join, at least 32 bytes; optional under mutual TLS, required without it"))
	if tok := c.ClusterToken.Reveal(); tok != "" && len(tok) < MinClusterTokenBytes {
		l.Fail("CLUSTER_TOKEN", "is %d bytes; at least %d are required", len(tok), MinClusterTokenBytes)
	}
	if !c.MutualTLS() && c.ClusterToken == "" {
		l.Fail("CLUSTER_TOKEN", "is required when the cluster runs without mutual TLS (no CLUSTER_TLS_* files)")
	}

	scheme := "https"
	if !c.MutualTLS() {
		scheme = "http"
	}
	if u := l.URL("DISPATCHER_URL", scheme+"://127.0.0.1:8081", []string{scheme}, "base URL of the dispatcher's cluster listener (its CLUSTER_ADDR) to join; https under mutual TLS"); u != nil {
		c.DispatcherURL = u.String()
	}
	c.AdvertiseURL = l.Derived("ADVERTISE_URL", "https://HTTP_ADDR as bound, http:// without cluster TLS", "URL the dispatcher calls this worker on")
	if c.AdvertiseURL == "" {
		h, _, _ := net.SplitHostPort(c.HTTPAddr)
		if h == "" || h == "0.0.0.0" || h == "::" {
			l.Fail("ADVERTISE_URL", "must be set when HTTP_ADDR (%s) listens on all interfaces", c.HTTPAddr)
		}
	} else if u, err := url.Parse(c.AdvertiseURL); err != nil || u.Scheme != scheme || u.Host == "" {
		l.Fail("ADVERTISE_URL", "%q must be an absolute %s:// URL (the dispatcher refuses others)", c.AdvertiseURL, scheme)
	}
}

// MutualTLS reports whether the worker runs mutual TLS in the cluster.
func (c Config) MutualTLS() bool { return c.ClusterTLS.CA != "" }
