package config

import (
	"net"
	"net/url"
	"slices"
	"strings"

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
		Cert: l.String("CLUSTER_TLS_CERT_FILE", "", "PEM certificate of this worker, with the URI SAN spiffe://<CLUSTER_NAME>/worker/<WORKER_ID>: served on HTTP_ADDR and presented to the dispatcher (reloaded when it changes)"),
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
	c.DispatcherURLs = loadDispatcherURLs(l, scheme)
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

// MaxDispatcherURLs bounds DISPATCHER_URL's list.
const MaxDispatcherURLs = 16

// loadDispatcherURLs reads DISPATCHER_URL: one base URL of the dispatchers'
// cluster listener (a Kubernetes Service in front of them all), or a
// comma-separated list of them, tried in turn. Every dispatcher of a
// deployment knows every worker, so any one that answers will do.
func loadDispatcherURLs(l *envconfig.Loader, scheme string) []string {
	raw := l.String("DISPATCHER_URL", scheme+"://127.0.0.1:8081", "base URL of the dispatchers' cluster listener (their CLUSTER_ADDR) to join, or a comma-separated list tried in turn; https under mutual TLS")
	var out []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		switch {
		case s == "":
			l.Fail("DISPATCHER_URL", "has an empty entry in %q", raw)
			return nil
		case err != nil:
			l.Fail("DISPATCHER_URL", "an entry is not an absolute %s:// URL", scheme)
			return nil
		case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			l.Fail("DISPATCHER_URL", "%q is not an absolute %s:// URL without credentials or query", u.Redacted(), scheme)
			return nil
		case u.Scheme != scheme:
			l.Fail("DISPATCHER_URL", "%q must use %s (%s)", s, scheme, map[string]string{"https": "the cluster runs mutual TLS", "http": "no cluster TLS files are set"}[scheme])
			return nil
		case slices.Contains(out, u.String()):
			l.Fail("DISPATCHER_URL", "lists %q twice", s)
			return nil
		}
		out = append(out, u.String())
	}
	if len(out) > MaxDispatcherURLs {
		l.Fail("DISPATCHER_URL", "lists %d URLs; at most %d", len(out), MaxDispatcherURLs)
		return nil
	}
	return out
}
