package ports

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	goredis "github.com/redis/go-redis/v9"
)

// clusterFixture is the dispatcher's cluster listener under mutual TLS, over
// a real quorum, and the cluster CA to make callers with.
type clusterFixture struct {
	t     testing.TB
	ca    *devpki.CA
	url   string
	m     *app.Membership
	audit *auditLog
}

func newClusterFixture(t testing.TB, policy MembershipPolicy, rules domain.AddressRules) *clusterFixture {
	t.Helper()
	ca, err := devpki.EnsureCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &clusterFixture{t: t, ca: ca, audit: &auditLog{}}
	log := slog.New(slog.DiscardHandler)
	rdb, err := embedded.StartRedis(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	opts, err := goredis.ParseURL(rdb.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opts)
	t.Cleanup(func() { _ = rc.Close() })
	f.m = app.NewMembership(app.MembershipConfig{Addresses: rules, HeartbeatInterval: time.Second, MissedHeartbeats: 3},
		redis.NewRegistry(rc, clustername.Name{}), func(_, _ string) app.WorkerClient { return nil }, log)
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	src := f.source(clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "d1"})
	h := NewClusterHandler(NewMembershipHandler(f.m, policy, log), v, 1<<20, f.audit)
	s := httpserver.New("cluster", "127.0.0.1:0", clustertls.WithPeer(h), log, src.ServerOptions()...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	f.url = s.URL()
	return f
}

func (f *clusterFixture) source(id clustertls.Identity) *clustertls.Source {
	f.t.Helper()
	files, err := f.ca.EnsureLeaf(devpki.Leaf{Name: string(id.Role) + "-" + id.ID, URIs: []string{id.URI()}})
	if err != nil {
		f.t.Fatal(err)
	}
	src, err := clustertls.Load(clustertls.Files{CA: files.CA, Cert: files.Cert, Key: files.Key}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	return src
}

// as is a membership client presenting id's certificate; the zero identity
// presents none.
func (f *clusterFixture) as(id clustertls.Identity) clusterv1connect.MembershipServiceClient {
	f.t.Helper()
	var cfg *tls.Config
	if id == (clustertls.Identity{}) {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} // probes: no certificate
	} else {
		cfg = f.source(id).ClientConfig(clustertls.ExpectRole(clustertls.RoleDispatcher))
	}
	hc := &http.Client{Transport: clustertls.Transport(cfg), Timeout: 10 * time.Second}
	f.t.Cleanup(hc.CloseIdleConnections)
	return clusterv1connect.NewMembershipServiceClient(hc, f.url)
}

func worker(id string) clustertls.Identity {
	return clustertls.Identity{Role: clustertls.RoleWorker, ID: id}
}

func join(t testing.TB, c clusterv1connect.MembershipServiceClient, id, addr string) (*clusterv1.JoinResponse, error) {
	t.Helper()
	res, err := c.Join(context.Background(), connect.NewRequest(&clusterv1.JoinRequest{WorkerId: id, Address: addr}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func members(m *app.Membership) map[string]string {
	out := map[string]string{}
	for _, w := range m.Workers() {
		out[w.ID] = w.Address
	}
	return out
}

// TestMembershipIsBoundToTheCertificate: a worker joins, heartbeats and
// leaves only as the id its certificate names; another worker's
// certificate, a dispatcher's or none cannot take over, keep alive or remove
// it.
func TestMembershipIsBoundToTheCertificate(t *testing.T) {
	f := newClusterFixture(t, MembershipPolicy{RequireIdentity: true}, domain.AddressRules{RequireHTTPS: true})
	w1, w2 := f.as(worker("w1")), f.as(worker("w2"))
	if res, err := join(t, w1, "w1", "https://127.0.0.1:9101"); err != nil || res.GetJoined() == nil {
		t.Fatalf("w1 joining as itself: %v %v", res, err)
	}

	// w2's certificate joining as w1 at its own address: refused, w1 kept.
	res, err := join(t, w2, "w1", "https://127.0.0.1:6666")
	if err != nil || res.GetRejected().GetReason() != clusterv1.RejectReason_REJECT_REASON_IDENTITY {
		t.Errorf("w2 joining as w1: %v %v, want Rejected IDENTITY", res, err)
	}
	if res, err := join(t, f.as(clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "d2"}), "w1", "https://127.0.0.1:6666"); err != nil || res.GetRejected().GetReason() != clusterv1.RejectReason_REJECT_REASON_IDENTITY {
		t.Errorf("a dispatcher's certificate joining as w1: %v %v, want Rejected IDENTITY", res, err)
	}
	if _, err := join(t, f.as(clustertls.Identity{}), "w1", "https://127.0.0.1:6666"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("joining without a certificate: %v, want unauthenticated", err)
	}

	// Leave and Heartbeat for w1 with w2's certificate, or none.
	_, err = w2.Leave(context.Background(), connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: "w1"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("w2 leaving as w1: %v, want permission_denied", err)
	}
	_, err = f.as(clustertls.Identity{}).Leave(context.Background(), connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: "w1"}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("leaving w1 without a certificate: %v, want unauthenticated", err)
	}
	_, err = w2.Heartbeat(context.Background(), connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: "w1"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("w2 heartbeating as w1: %v, want permission_denied", err)
	}
	if got := members(f.m); len(got) != 1 || got["w1"] != "https://127.0.0.1:9101" {
		t.Fatalf("after the forged calls the quorum is %v, want w1 at its own address", got)
	}

	hb, err := w1.Heartbeat(context.Background(), connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: "w1"}))
	if err != nil || !hb.Msg.GetKnown() {
		t.Errorf("w1's own heartbeat: %v %v", hb, err)
	}
	if _, err := w1.Leave(context.Background(), connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: "w1"})); err != nil {
		t.Errorf("w1's own leave: %v", err)
	}
	if got := members(f.m); len(got) != 0 {
		t.Errorf("after w1 left the quorum is %v", got)
	}
}

// TestJoinAddressRules: http, link-local and metadata addresses are refused
// under mutual TLS (the defaults), and a link-local one is admitted when
// allowed.
func TestJoinAddressRules(t *testing.T) {
	f := newClusterFixture(t, MembershipPolicy{RequireIdentity: true}, domain.AddressRules{RequireHTTPS: true})
	w := f.as(worker("w1"))
	for _, addr := range []string{"http://127.0.0.1:9101", "https://169.254.169.254:80", "https://[fe80::1]:9101",
		"https://[fd00:ec2::254]:80", "https://metadata.google.internal:80", "https://[::ffff:169.254.169.254]:80", "https://127.0.0.1"} {
		res, err := join(t, w, "w1", addr)
		if err != nil || res.GetRejected().GetReason() != clusterv1.RejectReason_REJECT_REASON_BAD_ADDRESS {
			t.Errorf("%s: %v %v, want Rejected BAD_ADDRESS", addr, res, err)
		}
	}
	if got := members(f.m); len(got) != 0 {
		t.Fatalf("refused joins left members %v", got)
	}
	allowed := newClusterFixture(t, MembershipPolicy{RequireIdentity: true}, domain.AddressRules{RequireHTTPS: true, AllowLinkLocal: true})
	if res, err := join(t, allowed.as(worker("w1")), "w1", "https://169.254.10.1:9101"); err != nil || res.GetJoined() == nil {
		t.Errorf("a link-local address with ALLOW_LINK_LOCAL_WORKERS: %v %v", res, err)
	}
}

// TestJoinRateLimit: past the burst, Joins from one address are refused
// with resource_exhausted before anything else is looked at. The rate is
// so low that no token comes back during the test.
func TestJoinRateLimit(t *testing.T) {
	f := newClusterFixture(t, MembershipPolicy{RequireIdentity: true, JoinRate: 0.001, JoinBurst: 3}, domain.AddressRules{RequireHTTPS: true})
	w := f.as(worker("w1"))
	for i := range 3 {
		if res, err := join(t, w, "w1", "https://127.0.0.1:9101"); err != nil || res.GetJoined() == nil {
			t.Fatalf("join %d within the burst: %v %v", i+1, res, err)
		}
	}
	for _, c := range []clusterv1connect.MembershipServiceClient{w, f.as(worker("w2"))} {
		if _, err := join(t, c, "w1", "https://127.0.0.1:9101"); connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("join past the burst: %v, want resource_exhausted", err)
		}
	}
	// Heartbeats are not limited.
	if _, err := w.Heartbeat(context.Background(), connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: "w1"})); err != nil {
		t.Errorf("heartbeat after the join limit: %v", err)
	}
}

// TestPublicListenerHasNoMembership: the workers' service is only on the
// cluster listener; on the public one it is an unknown path.
func TestPublicListenerHasNoMembership(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, p := range []string{clusterv1connect.MembershipServiceJoinProcedure, clusterv1connect.MembershipServiceLeaveProcedure} {
		if r := f.do("POST", p, jsonType, `{"workerId":"w1","address":"https://127.0.0.1:1"}`); r.status != http.StatusNotFound {
			t.Errorf("%s on the public listener: %d %s, want 404", p, r.status, r.body)
		}
	}
}

// TestMembershipCallsAreAudited: joins, leaves and refused calls leave an
// audit record naming the caller's certificate ("mtls") and address;
// successful heartbeats do not.
func TestMembershipCallsAreAudited(t *testing.T) {
	f := newClusterFixture(t, MembershipPolicy{RequireIdentity: true}, domain.AddressRules{RequireHTTPS: true})
	w1 := f.as(worker("w1"))
	if _, err := join(t, w1, "w1", "https://127.0.0.1:9101"); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.Heartbeat(context.Background(), connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: "w1"})); err != nil {
		t.Fatal(err)
	}
	_, _ = f.as(worker("w2")).Leave(context.Background(), connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: "w1"}))
	_, _ = f.as(clustertls.Identity{}).Leave(context.Background(), connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: "w1"}))
	recs := f.audit.records()
	want := []struct{ route, status, principal, kind string }{
		{clusterv1connect.MembershipServiceJoinProcedure, "ok", "worker/w1", "mtls"},
		{clusterv1connect.MembershipServiceLeaveProcedure, "permission_denied", "worker/w2", "mtls"},
		{clusterv1connect.MembershipServiceLeaveProcedure, "unauthenticated", "", "none"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.GetRoute() != w.route || r.GetStatus() != w.status || r.GetPrincipal() != w.principal || r.GetCredentialKind() != w.kind ||
			r.GetRemoteAddress() != "127.0.0.1" || r.GetRequestId() == "" || r.GetProtocol() != "connect" {
			t.Errorf("record %d: %v, want %+v from 127.0.0.1", i, r, w)
		}
	}
}
