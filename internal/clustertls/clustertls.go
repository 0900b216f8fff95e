// Package clustertls is the trust between the platform's own services: mutual
// TLS with a cluster CA. Every dispatcher and worker holds a certificate
// signed by the cluster CA that names it by a URI SAN
// spiffe://<trust domain>/<role>/<id>, the trust domain being the
// deployment's CLUSTER_NAME ("auction" by default); each side of a cluster connection checks the
// other's chain against the CA and its role and id, never its host name, so
// that a worker can be reached at any address but only the worker that joined
// answers there. The CA, certificate and key are read from files and reloaded
// when they change (rotation without restarts).
package clustertls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/internal/certreload"
)

// DefaultTrustDomain is the SPIFFE trust domain of a deployment that sets
// none. Each deployment's members name its CLUSTER_NAME as their trust
// domain (Files.TrustDomain), so that two deployments whose certificates
// come from one CA (one cert-manager issuer, say) still cannot join or call
// each other.
const DefaultTrustDomain = "auction"

// Role is what a cluster member is.
type Role string

// The roles of cluster members.
const (
	RoleDispatcher Role = "dispatcher"
	RoleWorker     Role = "worker"
)

// Identity is a cluster member as its certificate names it.
type Identity struct {
	Role Role
	ID   string
}

// URI is the identity's URI SAN in the default trust domain,
// spiffe://auction/<role>/<id>.
func (i Identity) URI() string { return i.URIIn(DefaultTrustDomain) }

// URIIn is the identity's URI SAN in trust domain, spiffe://<domain>/<role>/<id>.
func (i Identity) URIIn(domain string) string {
	return (&url.URL{Scheme: "spiffe", Host: domain, Path: "/" + string(i.Role) + "/" + i.ID}).String()
}

func (i Identity) String() string { return string(i.Role) + "/" + i.ID }

// ErrNoIdentity is returned when a certificate, or a connection, names no
// cluster identity.
var ErrNoIdentity = errors.New("no cluster identity")

// ParseIdentity reads the identity a certificate names: its one spiffe URI
// SAN in trust domain, with a known role and a non-empty id. The certificate
// must have been verified against the cluster CA by the caller (PeerIdentity
// and the configs of this package do that).
func ParseIdentity(cert *x509.Certificate, domain string) (Identity, error) {
	return parseIdentity(cert, domain)
}

// parseIdentity is ParseIdentity; an empty domain takes the one the URI
// names (for a connection whose handshake already checked it).
func parseIdentity(cert *x509.Certificate, domain string) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		want := domain
		if want == "" {
			want = u.Host
		}
		if u.Host == "" || u.Host != want || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
			return Identity{}, fmt.Errorf("%w: %q is not in trust domain %q", ErrNoIdentity, u.String(), domain)
		}
		role, id, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		if !ok || id == "" || strings.Contains(id, "/") || (Role(role) != RoleDispatcher && Role(role) != RoleWorker) {
			return Identity{}, fmt.Errorf("%w: %q is not spiffe://%s/{dispatcher,worker}/<id>", ErrNoIdentity, u.String(), want)
		}
		found = append(found, Identity{Role: Role(role), ID: id})
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("%w: the certificate has no spiffe URI SAN", ErrNoIdentity)
	case 1:
		return found[0], nil
	}
	return Identity{}, fmt.Errorf("%w: the certificate names %d identities", ErrNoIdentity, len(found))
}

// Files are the PEM files of a member's trust: the cluster CA, its
// certificate and its key.
type Files struct {
	CA, Cert, Key string
	// TrustDomain is the deployment's trust domain (its CLUSTER_NAME);
	// empty is DefaultTrustDomain. Peers naming another domain are refused.
	TrustDomain string
}

// Domain is the trust domain f names, DefaultTrustDomain when empty.
func (f Files) Domain() string {
	if f.TrustDomain == "" {
		return DefaultTrustDomain
	}
	return f.TrustDomain
}

// Option changes a Source.
type Option func(*Source)

// WithCheckInterval sets how often, at most, the files are checked for a
// change (default certreload.DefaultCheckInterval); 0 checks on every
// handshake (tests).
func WithCheckInterval(d time.Duration) Option {
	return func(s *Source) { s.interval = d }
}

// Source holds a member's CA pool and keypair and reloads them when their
// files change. A file that changes into something unusable is logged and
// the last good one stays in use.
type Source struct {
	files    Files
	log      *slog.Logger
	interval time.Duration
	keypair  *certreload.Keypair

	mu      sync.Mutex
	roots   *x509.CertPool
	checked time.Time
	seen    caStamp
}

type caStamp struct {
	mod  time.Time
	size int64
}

// Load reads the files; an error means the service must not start.
func Load(f Files, log *slog.Logger, opts ...Option) (*Source, error) {
	s := &Source{files: f, log: log, interval: certreload.DefaultCheckInterval}
	for _, o := range opts {
		o(s)
	}
	if f.CA == "" {
		return nil, errors.New("clustertls: no CA file")
	}
	kp, err := certreload.New(f.Cert, f.Key, log, certreload.WithCheckInterval(s.interval))
	if err != nil {
		return nil, fmt.Errorf("clustertls: %w", err)
	}
	s.keypair = kp
	st, roots, err := s.loadCA()
	if err != nil {
		return nil, err
	}
	s.roots, s.seen, s.checked = roots, st, time.Now()
	if _, err := ParseIdentity(kp.Leaf(), f.Domain()); err != nil {
		return nil, fmt.Errorf("clustertls: %s: %w", f.Cert, err)
	}
	return s, nil
}

func (s *Source) loadCA() (caStamp, *x509.CertPool, error) {
	fi, err := os.Stat(s.files.CA)
	if err != nil {
		return caStamp{}, nil, fmt.Errorf("clustertls: CA file: %w", err)
	}
	st := caStamp{mod: fi.ModTime(), size: fi.Size()}
	pem, err := os.ReadFile(s.files.CA)
	if err != nil {
		return st, nil, fmt.Errorf("clustertls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return st, nil, fmt.Errorf("clustertls: %s holds no PEM certificate", s.files.CA)
	}
	return st, pool, nil
}

// Roots is the current CA pool, first reloaded if the check interval passed
// and the CA file changed.
func (s *Source) Roots() *x509.CertPool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.interval > 0 && now.Sub(s.checked) < s.interval {
		return s.roots
	}
	s.checked = now
	fi, err := os.Stat(s.files.CA)
	if err != nil || (caStamp{mod: fi.ModTime(), size: fi.Size()}) == s.seen {
		return s.roots
	}
	st, roots, err := s.loadCA()
	s.seen = st
	if err != nil {
		s.log.Warn("cluster CA file changed but does not load; keeping the previous CA", "ca_file", s.files.CA, "err", err)
		return s.roots
	}
	s.roots = roots
	s.log.Info("cluster CA reloaded", "ca_file", s.files.CA)
	return s.roots
}

// Certificate is the member's current certificate (reloaded like Roots).
func (s *Source) Certificate() *tls.Certificate { return s.keypair.Certificate() }

// Self is the identity the member's own certificate names.
func (s *Source) Self() (Identity, error) { return ParseIdentity(s.keypair.Leaf(), s.files.Domain()) }

// TrustDomain is the trust domain the member and its peers must name.
func (s *Source) TrustDomain() string { return s.files.Domain() }

// ServerConfig is the TLS configuration of a cluster listener: h2 and
// HTTP/1.1 over TLS 1.3, the member's certificate, and client certificates
// verified against the cluster CA when given. They are not required at the
// handshake so that probes (health checks, metrics) work without one; the
// RPCs refuse a caller without the right identity (RequireRole and the
// membership handler).
func (s *Source) ServerConfig() *tls.Config {
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: s.keypair.GetCertificate,
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = tls.VerifyClientCertIfGiven
		c.ClientCAs = s.Roots()
		// A client certificate from the cluster CA must also name this
		// deployment's trust domain (PeerIdentity relies on it).
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return nil
			}
			if _, err := ParseIdentity(cs.VerifiedChains[0][0], s.files.Domain()); err != nil {
				return fmt.Errorf("clustertls: %w", err)
			}
			return nil
		}
		return c, nil
	}
	return base
}

// ClientConfig is the TLS configuration of a connection to a cluster member:
// the member's own certificate as client certificate, and the server's chain
// verified against the cluster CA (x509 Verify, for server authentication)
// and its identity checked by accept. Host names are not checked: the
// identity is.
func (s *Source) ClientConfig(accept func(Identity) error) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{"h2", "http/1.1"},
		GetClientCertificate: s.keypair.GetClientCertificate,
		// The chain is verified in VerifyConnection, against the CA and not
		// a host name; this only turns off the host name check.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verify(cs.PeerCertificates, s.Roots(), x509.ExtKeyUsageServerAuth, s.files.Domain())
			if err != nil {
				return err
			}
			return accept(id)
		},
	}
}

// verify checks a peer's chain against roots for usage and returns the
// identity its leaf names.
func verify(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, domain string) (Identity, error) {
	if len(certs) == 0 {
		return Identity{}, fmt.Errorf("clustertls: %w: no certificate", ErrNoIdentity)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return Identity{}, fmt.Errorf("clustertls: the peer's certificate is not from the cluster CA: %w", err)
	}
	id, err := ParseIdentity(certs[0], domain)
	if err != nil {
		return Identity{}, fmt.Errorf("clustertls: %w", err)
	}
	return id, nil
}

// Expect returns an accept function for ClientConfig that takes only want.
func Expect(want Identity) func(Identity) error {
	return func(got Identity) error {
		if got != want {
			return fmt.Errorf("clustertls: the peer is %s, want %s", got, want)
		}
		return nil
	}
}

// ExpectRole returns an accept function for ClientConfig that takes any
// member of role.
func ExpectRole(role Role) func(Identity) error {
	return func(got Identity) error {
		if got.Role != role {
			return fmt.Errorf("clustertls: the peer is %s, want a %s", got, role)
		}
		return nil
	}
}

// PeerIdentity is the identity of a TLS client whose certificate the server
// verified against the cluster CA and its trust domain (ServerConfig). It
// returns ErrNoIdentity for a connection without TLS or without a verified
// client certificate.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("%w: no verified client certificate", ErrNoIdentity)
	}
	return parseIdentity(cs.VerifiedChains[0][0], "")
}

type peerKey struct{}

type peer struct {
	id  Identity
	err error
}

// WithPeer is middleware that puts the caller's identity (or why it has
// none) into the request's context, for Peer: handlers and interceptors
// that do not see the *http.Request read it there.
func WithPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := PeerIdentity(r.TLS)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, peer{id: id, err: err})))
	})
}

// Peer is the caller's identity put into ctx by WithPeer, or ErrNoIdentity.
func Peer(ctx context.Context) (Identity, error) {
	p, ok := ctx.Value(peerKey{}).(peer)
	if !ok {
		return Identity{}, fmt.Errorf("%w: the request did not pass WithPeer", ErrNoIdentity)
	}
	return p.id, p.err
}
