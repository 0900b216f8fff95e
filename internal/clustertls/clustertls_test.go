package clustertls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/httpserver"
)

var discard = slog.New(slog.DiscardHandler)

type pki struct {
	t   testing.TB
	ca  *devpki.CA
	dir string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := devpki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, ca: ca, dir: dir}
}

// member issues a certificate for id and loads it (checked on every
// handshake, so that rotation shows at once).
func (p *pki) member(id clustertls.Identity) *clustertls.Source {
	p.t.Helper()
	return p.memberIn("", id)
}

// memberIn is member in trust domain ("" is the default).
func (p *pki) memberIn(domain string, id clustertls.Identity) *clustertls.Source {
	p.t.Helper()
	name, uri := string(id.Role)+"-"+id.ID, id.URI()
	if domain != "" {
		name, uri = domain+"-"+name, id.URIIn(domain)
	}
	f, err := p.ca.EnsureLeaf(devpki.Leaf{Name: name, URIs: []string{uri}})
	if err != nil {
		p.t.Fatal(err)
	}
	src, err := clustertls.Load(clustertls.Files{CA: f.CA, Cert: f.Cert, Key: f.Key, TrustDomain: domain}, discard, clustertls.WithCheckInterval(0))
	if err != nil {
		p.t.Fatal(err)
	}
	return src
}

var (
	dispatcher = clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "d1"}
	worker1    = clustertls.Identity{Role: clustertls.RoleWorker, ID: "w1"}
	worker2    = clustertls.Identity{Role: clustertls.RoleWorker, ID: "w2"}
)

// serve runs a cluster listener for src that answers with the caller's
// identity, or "none: <why>".
func serve(t testing.TB, src *clustertls.Source) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := clustertls.Peer(r.Context())
		if err != nil {
			fmt.Fprintf(w, "none: %v", err)
			return
		}
		fmt.Fprint(w, id.String())
	})
	s := httpserver.New("test", "127.0.0.1:0", clustertls.WithPeer(h), discard, src.ServerOptions()...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s.URL()
}

func get(client *http.Client, url string) (string, error) {
	res, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.ProtoMajor != 1 {
		return "", fmt.Errorf("served over %s, want HTTP/1.1 (Transport)", res.Proto)
	}
	return string(b), err
}

func client(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: clustertls.Transport(cfg), Timeout: 10 * time.Second}
}

// TestMutualTLS: each side sees the other's identity from a certificate of
// the cluster CA; a client expecting another worker, a certificate from
// another CA, and a caller without a certificate are told apart.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	w1, d := p.member(worker1), p.member(dispatcher)
	url := serve(t, w1)

	got, err := get(client(d.ClientConfig(clustertls.Expect(worker1))), url)
	if err != nil || got != "dispatcher/d1" {
		t.Fatalf("dispatcher → w1: %q, %v", got, err)
	}
	if _, err := get(client(d.ClientConfig(clustertls.Expect(worker2))), url); err == nil || !strings.Contains(err.Error(), "the peer is worker/w1, want worker/w2") {
		t.Errorf("a client expecting w2 accepted w1: %v", err)
	}
	if _, err := get(client(d.ClientConfig(clustertls.ExpectRole(clustertls.RoleDispatcher))), url); err == nil {
		t.Error("a client expecting a dispatcher accepted a worker")
	}

	// Without a client certificate the handshake succeeds (probes) but the
	// caller has no identity.
	noCert := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "ignored", InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if got, err := get(client(noCert), url); err != nil || !strings.HasPrefix(got, "none:") {
		t.Errorf("caller without a certificate: %q, %v", got, err)
	}

	// A member of another cluster CA is refused at the handshake, both ways.
	other := newPKI(t).member(dispatcher)
	if _, err := get(client(other.ClientConfig(clustertls.Expect(worker1))), url); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
}

// TestRotation: a certificate rewritten on disk is served on the next
// handshake; a broken one is not, and the last good one stays.
func TestRotation(t *testing.T) {
	p := newPKI(t)
	d := p.member(dispatcher)
	srcFiles := devpki.Files{Cert: filepath.Join(p.dir, "worker-w1.pem"), Key: filepath.Join(p.dir, "worker-w1-key.pem")}
	w := p.member(worker1)
	url := serve(t, w)
	c := d.ClientConfig(clustertls.ExpectRole(clustertls.RoleWorker))
	var seen []string
	c.VerifyConnection = func(next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
		return func(cs tls.ConnectionState) error {
			seen = append(seen, cs.PeerCertificates[0].SerialNumber.String())
			return next(cs)
		}
	}(c.VerifyConnection)
	fresh := func() {
		t.Helper()
		cl := client(c)
		defer cl.CloseIdleConnections()
		if _, err := get(cl, url); err != nil {
			t.Fatal(err)
		}
	}
	fresh()
	rotated, err := p.ca.Issue(devpki.Leaf{Name: "worker-w1", URIs: []string{worker1.URI()}}, srcFiles.Cert, srcFiles.Key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fresh()
	if len(seen) != 2 || seen[0] == seen[1] || seen[1] != rotated.SerialNumber.String() {
		t.Fatalf("serials served %v, want the rotated %s second", seen, rotated.SerialNumber)
	}
}

// TestParseIdentity: exactly one spiffe URI SAN in the trust domain, with a
// known role and an id.
func TestParseIdentity(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		uris []string
		want string // "" for an error
	}{
		{[]string{"spiffe://auction/worker/w-1"}, "worker/w-1"},
		{[]string{"spiffe://auction/dispatcher/d"}, "dispatcher/d"},
		{[]string{"https://example.com/x", "spiffe://auction/worker/w"}, "worker/w"},
		{nil, ""},
		{[]string{"spiffe://other/worker/w"}, ""},
		{[]string{"spiffe://auction/admin/w"}, ""},
		{[]string{"spiffe://auction/worker/"}, ""},
		{[]string{"spiffe://auction/worker/a/b"}, ""},
		{[]string{"spiffe://auction/worker/a", "spiffe://auction/worker/b"}, ""},
		{[]string{"spiffe://auction:8443/worker/w"}, ""},
	}
	for i, c := range cases {
		name := fmt.Sprintf("leaf%d", i)
		cert, err := p.ca.Issue(devpki.Leaf{Name: name, URIs: c.uris}, filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		id, err := clustertls.ParseIdentity(cert, "auction")
		switch {
		case c.want == "" && !errors.Is(err, clustertls.ErrNoIdentity):
			t.Errorf("%v: got %v, %v; want ErrNoIdentity", c.uris, id, err)
		case c.want != "" && (err != nil || id.String() != c.want):
			t.Errorf("%v: got %v, %v; want %s", c.uris, id, err, c.want)
		}
	}
}

// TestTrustDomainsStayApart: two deployments whose certificates come from
// one CA (one issuer) cannot call each other: each side refuses a peer
// naming another trust domain, and a member cannot load a certificate of
// another domain as its own.
func TestTrustDomainsStayApart(t *testing.T) {
	p := newPKI(t)
	stagingWorker := p.memberIn("staging", worker1)
	stagingDispatcher := p.memberIn("staging", dispatcher)
	prodDispatcher := p.memberIn("production", dispatcher)
	if stagingWorker.TrustDomain() != "staging" {
		t.Fatalf("trust domain %q", stagingWorker.TrustDomain())
	}
	url := serve(t, stagingWorker)
	if got, err := get(client(stagingDispatcher.ClientConfig(clustertls.Expect(worker1))), url); err != nil || got != "dispatcher/d1" {
		t.Fatalf("same domain: %q, %v", got, err)
	}
	// The production dispatcher refuses the staging worker as a server...
	if _, err := get(client(prodDispatcher.ClientConfig(clustertls.Expect(worker1))), url); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Errorf("production dispatcher → staging worker: %v, want a trust domain refusal", err)
	}
	// ... and the staging worker refuses it as a client, even one that
	// accepts any server.
	lax := prodDispatcher.ClientConfig(func(clustertls.Identity) error { return nil })
	lax.VerifyConnection = nil
	if got, err := get(client(lax), url); err == nil {
		t.Errorf("staging worker served a production dispatcher: %q", got)
	}
	// A certificate naming staging does not load as production's.
	f, err := p.ca.EnsureLeaf(devpki.Leaf{Name: "staging-w9", URIs: []string{worker2.URIIn("staging")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clustertls.Load(clustertls.Files{CA: f.CA, Cert: f.Cert, Key: f.Key, TrustDomain: "production"}, discard); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Errorf("loading a staging certificate as production: %v", err)
	}
}
