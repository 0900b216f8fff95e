package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/auth/authtest"
)

// authKeys are the API keys of the auth tests, by name.
type authKeys map[string]string

// newAuthFixture is the handler with authentication on: a key file of
// hashes (keys named by role) and a stand-in OIDC issuer.
func newAuthFixture(t *testing.T, o fixtureOpts) (*fixture, authKeys, *authtest.Issuer) {
	t.Helper()
	keys := authKeys{}
	var entries []auth.KeyEntry
	add := func(name, client string, scopes ...auth.Scope) {
		k := auth.NewAPIKey()
		keys[name] = k
		entries = append(entries, auth.KeyEntry{ID: name, Hash: auth.HashAPIKey(k), Scopes: scopes, Client: client})
	}
	add("reader", "", auth.ScopeItemsRead)
	add("writer", "", auth.ScopeItemsWrite)
	add("alice", "alice", auth.ScopeItemsRead, auth.ScopeActionsWrite)
	add("staff", "", auth.ScopeItemsRead, auth.ScopeActionsWrite, auth.ScopeActionsWriteAny)
	add("admin", "", auth.ScopeAdmin)
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, path, auth.KeyFile{Keys: entries})
	store, err := auth.LoadKeyStore(path, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	is := authtest.NewIssuer(t)
	v, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: is.URL(), Audience: authtest.Audience})
	if err != nil {
		t.Fatal(err)
	}
	o.cfg.Auth = &auth.Authenticator{Keys: store, JWT: v}
	return newFixture(t, o), keys, is
}

func writeKeyFile(t *testing.T, path string, f auth.KeyFile) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	for i, k := range f.Keys {
		if i > 0 {
			b.WriteString(",")
		}
		var scopes []string
		for _, s := range k.Scopes {
			scopes = append(scopes, `"`+string(s)+`"`)
		}
		b.WriteString(`{"id":"` + k.ID + `","hash":"` + k.Hash + `","scopes":[` + strings.Join(scopes, ",") + `],"client":"` + k.Client + `"}`)
	}
	b.WriteString(`]}`)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bearer sets an Authorization header on every call of a client.
func bearer(h string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if h != "" {
				req.Header().Set("Authorization", h)
			}
			return next(ctx, req)
		}
	}))
}

// TestAuthTable is the (protocol × credential × route) table: every
// credential kind against every route, on REST, Connect, gRPC and gRPC-Web,
// over a real HTTP/2 server. Each cell gets the same code on every
// protocol; a 401 carries WWW-Authenticate (error="invalid_token" when a
// credential was given), a 403 names the missing scope or the client
// mismatch; every call leaves an audit record naming the credential kind,
// the principal and the remote address.
func TestAuthTable(t *testing.T) {
	f, keys, is := newAuthFixture(t, fixtureOpts{})
	srv := f.server(t, true)
	aliceJWT := is.Token(t, authtest.Claims{Subject: "alice", Scope: "items:read actions:write"})
	staffJWT := is.Token(t, authtest.Claims{Subject: "clerk-7", Scp: []string{"items:read", "items:write", "actions:write", "actions:write:any"}})
	expired := is.Token(t, authtest.Claims{Subject: "alice", Scope: "items:read actions:write items:write", Expiry: time.Now().Add(-time.Minute)})

	routes := []struct {
		name string
		call edgeCall
	}{
		{"GetItem", getRing}, {"AddItem", addRing}, {"Buy as alice", buyBy("alice", 5)}, {"Buy as bob", buyBy("bob", 5)},
	}
	type cred struct {
		name, header, kind, principal string
		// want is the code per route, in the order of routes.
		want [4]string
		// msg is a part of the message of each refusal.
		msg [4]string
	}
	const (
		ok     = "ok"
		unauth = "unauthenticated"
		denied = "permission_denied"
	)
	creds := []cred{
		{"none", "", "none", "", [4]string{unauth, unauth, unauth, unauth}, [4]string{"needs a credential", "needs a credential", "needs a credential", "needs a credential"}},
		{"bad key", "Bearer " + auth.NewAPIKey(), "api_key", "", [4]string{unauth, unauth, unauth, unauth}, [4]string{"not valid", "not valid", "not valid", "not valid"}},
		{"bad scheme", "Basic " + keys["staff"], "none", "", [4]string{unauth, unauth, unauth, unauth}, [4]string{"not valid", "not valid", "not valid", "not valid"}},
		{"expired JWT", "Bearer " + expired, "jwt", "", [4]string{unauth, unauth, unauth, unauth}, [4]string{"not valid", "not valid", "not valid", "not valid"}},
		{"key without scope", "Bearer " + keys["admin"], "api_key", "admin", [4]string{denied, denied, denied, denied}, [4]string{"items:read", "items:write", "actions:write", "actions:write"}},
		{"reader key", "Bearer " + keys["reader"], "api_key", "reader", [4]string{ok, denied, denied, denied}, [4]string{"", "items:write", "actions:write", "actions:write"}},
		{"writer key", "Bearer " + keys["writer"], "api_key", "writer", [4]string{denied, ok, denied, denied}, [4]string{"items:read", "", "actions:write", "actions:write"}},
		{"bound client key", "Bearer " + keys["alice"], "api_key", "alice", [4]string{ok, denied, ok, denied}, [4]string{"", "items:write", "", "acts as client alice only"}},
		{"staff key", "Bearer " + keys["staff"], "api_key", "staff", [4]string{ok, denied, ok, ok}, [4]string{"", "items:write", "", ""}},
		{"bound JWT", "Bearer " + aliceJWT, "jwt", "alice", [4]string{ok, denied, ok, denied}, [4]string{"", "items:write", "", "acts as client alice only"}},
		{"staff JWT", "Bearer " + staffJWT, "jwt", "clerk-7", [4]string{ok, ok, ok, ok}, [4]string{}},
	}
	for _, c := range creds {
		for i, r := range routes {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				before := len(f.audit.records())
				want := c.want[i]
				var header []string
				if c.header != "" {
					header = []string{"Authorization", c.header}
				}
				rest := send(t, srv.Client(), r.call.method, srv.URL+r.call.path, contentTypeOf(r.call), r.call.body, header...)
				got := map[string]answer{"rest": restAnswer(t, rest, r.call)}
				challenges := map[string]string{"rest": rest.header.Get("WWW-Authenticate")}
				wantStatus := map[string]int{ok: http.StatusOK, unauth: http.StatusUnauthorized, denied: http.StatusForbidden}[want]
				if want == ok && r.call.method == "POST" {
					wantStatus = http.StatusAccepted
				}
				if rest.status != wantStatus {
					t.Errorf("REST: HTTP %d %s, want %d", rest.status, rest.body, wantStatus)
				}
				for protocol, opt := range map[string]connect.ClientOption{
					"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpcweb": connect.WithGRPCWeb(),
				} {
					client := auctionv1connect.NewAuctionServiceClient(srv.Client(), srv.URL, opt, bearer(c.header))
					res, err := r.call.rpc(context.Background(), client)
					if err != nil {
						got[protocol] = fromError(err)
						var cerr *connect.Error
						if errors.As(err, &cerr) {
							challenges[protocol] = cerr.Meta().Get("WWW-Authenticate")
						}
					} else {
						got[protocol] = answer{code: ok, res: res}
					}
				}
				for protocol, a := range got {
					if a.code != want {
						t.Errorf("%s: %v, want %s", protocol, a, want)
					}
					if !strings.Contains(a.message, c.msg[i]) {
						t.Errorf("%s: message %q does not say %q", protocol, a.message, c.msg[i])
					}
					ch := challenges[protocol]
					switch {
					case want == unauth && c.header == "" && ch != `Bearer realm="auction"`:
						t.Errorf("%s: WWW-Authenticate %q, want the bare challenge", protocol, ch)
					case want == unauth && c.header != "" && ch != `Bearer realm="auction", error="invalid_token"`:
						t.Errorf("%s: WWW-Authenticate %q, want error=\"invalid_token\"", protocol, ch)
					case want == denied && !strings.HasPrefix(ch, `Bearer realm="auction", error="insufficient_scope"`):
						t.Errorf("%s: WWW-Authenticate %q, want insufficient_scope", protocol, ch)
					case want == ok && ch != "":
						t.Errorf("%s: WWW-Authenticate %q on success", protocol, ch)
					}
				}
				recs := f.audit.records()[before:]
				if len(recs) != 4 {
					t.Fatalf("%d audit records for 4 calls", len(recs))
				}
				for _, rec := range recs {
					if rec.GetStatus() != want || rec.GetCredentialKind() != c.kind || rec.GetPrincipal() != c.principal || rec.GetRemoteAddress() != "127.0.0.1" {
						t.Errorf("audit record %v: want status %s, kind %q, principal %q, remote 127.0.0.1", rec, want, c.kind, c.principal)
					}
				}
			})
		}
	}
}

// TestAuthRoutesOutsideTheAPI: health, status, docs and the OpenAPI
// document are open; /metrics needs admin; /readyz shows details to admin
// only.
func TestAuthRoutesOutsideTheAPI(t *testing.T) {
	f, keys, _ := newAuthFixture(t, fixtureOpts{})
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/docs", "/grpc.health.v1.Health/Check"} {
		method, ct, body := "GET", "", ""
		if strings.HasPrefix(path, "/grpc.") {
			method, ct, body = "POST", "application/json", "{}"
		}
		if r := f.do(method, path, ct, body); r.status >= 400 {
			t.Errorf("%s without a credential: HTTP %d %s", path, r.status, r.body)
		}
	}
	if r := f.do("GET", "/metrics", "", ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="auction"` {
		t.Errorf("/metrics without a credential: HTTP %d %v", r.status, r.header)
	}
	if r := f.do("GET", "/metrics", "", "", "Authorization", "Bearer "+keys["staff"]); r.status != http.StatusForbidden || !strings.Contains(r.message(t), "admin") {
		t.Errorf("/metrics without admin: HTTP %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/metrics", "", "", "Authorization", "Bearer "+keys["admin"]); r.status != http.StatusOK {
		t.Errorf("/metrics as admin: HTTP %d", r.status)
	}
	for _, h := range []string{"", "Bearer " + keys["staff"], "Bearer " + auth.NewAPIKey()} {
		if m := f.do("GET", "/readyz", "", "", "Authorization", h).json(t); len(m) != 1 || m["status"] != "ready" {
			t.Errorf("/readyz with %q: %v, want the status only", h, m)
		}
	}
	if m := f.do("GET", "/readyz", "", "", "Authorization", "Bearer "+keys["admin"]).json(t); m["detail"] != "yes" {
		t.Errorf("/readyz as admin: %v, want the details", m)
	}
}

// TestAuthNoneSaysSo: AUTH_MODE=none lets every call through and /readyz
// says "auth": "none".
func TestAuthNoneSaysSo(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if m := f.do("GET", "/readyz", "", "").json(t); m["auth"] != "none" || m["detail"] != "yes" {
		t.Errorf("/readyz: %v", m)
	}
	if r := f.do("GET", "/metrics", "", ""); r.status != http.StatusOK {
		t.Errorf("/metrics: HTTP %d", r.status)
	}
	if r := f.do("POST", "/item/action/buy", jsonType, `{"clientId":"anyone","itemId":"ring-1","priceCents":5}`); r.status != http.StatusAccepted {
		t.Errorf("buy: HTTP %d %s", r.status, r.body)
	}
	if recs := f.audit.records(); len(recs) != 1 || recs[0].GetCredentialKind() != "none" {
		t.Errorf("audit records %v", recs)
	}
}

// historyWorker answers reads with an item whose history has actions of
// alice and of bob.
type historyWorker struct{ fakeWorker }

func history(id string) *auctionv1.ItemWithHistory {
	return &auctionv1.ItemWithHistory{Item: &auctionv1.Item{Id: id, Name: "ring"},
		Buys:  []*auctionv1.Buy{{ClientId: "alice"}, {ClientId: "bob"}},
		Sells: []*auctionv1.Sell{{ClientId: "bob"}},
		Pawns: []*auctionv1.Pawn{{ClientId: "alice"}, {ClientId: "bob"}, {ClientId: "alice"}}}
}

func (w *historyWorker) FetchItem(_ context.Context, r *clusterv1.FetchItemRequest) (*clusterv1.FetchItemResponse, error) {
	return &clusterv1.FetchItemResponse{Item: history(r.GetId())}, nil
}

func (w *historyWorker) FetchItemsByName(context.Context, *clusterv1.FetchItemsByNameRequest) (*clusterv1.FetchItemsByNameResponse, error) {
	return &clusterv1.FetchItemsByNameResponse{Items: []*auctionv1.ItemWithHistory{history("a"), history("b")}}, nil
}

// TestHistoryFiltered: a principal bound to a client reads only its own
// actions in a history (GetItem and ListItems, every protocol); staff,
// operators and unbound readers with actions:write:any see all; an unbound
// reader without it sees none.
func TestHistoryFiltered(t *testing.T) {
	f, keys, is := newAuthFixture(t, fixtureOpts{worker: &historyWorker{}})
	srv := f.server(t, true)
	aliceJWT := is.Token(t, authtest.Claims{Subject: "alice", Scope: "items:read"})
	count := func(it *auctionv1.ItemWithHistory) (mine, others int) {
		var ids []string
		for _, a := range it.GetBuys() {
			ids = append(ids, a.GetClientId())
		}
		for _, a := range it.GetSells() {
			ids = append(ids, a.GetClientId())
		}
		for _, a := range it.GetPawns() {
			ids = append(ids, a.GetClientId())
		}
		for _, id := range ids {
			if id == "alice" {
				mine++
			} else {
				others++
			}
		}
		return mine, others
	}
	for _, c := range []struct {
		name, header string
		mine, others int
	}{
		{"bound key", "Bearer " + keys["alice"], 3, 0},
		{"bound JWT", "Bearer " + aliceJWT, 3, 0},
		{"staff", "Bearer " + keys["staff"], 3, 3},
		{"unbound reader", "Bearer " + keys["reader"], 0, 0},
	} {
		for protocol, opt := range map[string]connect.ClientOption{
			"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpcweb": connect.WithGRPCWeb(),
		} {
			client := auctionv1connect.NewAuctionServiceClient(srv.Client(), srv.URL, opt, bearer(c.header))
			res, err := client.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "ring-1"}))
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, protocol, err)
			}
			if m, o := count(res.Msg.GetItem()); m != c.mine || o != c.others {
				t.Errorf("%s %s GetItem: %d own and %d others' actions, want %d and %d", c.name, protocol, m, o, c.mine, c.others)
			}
			list, err := client.ListItems(context.Background(), connect.NewRequest(&auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Name{Name: "ring"}}))
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, protocol, err)
			}
			for _, it := range list.Msg.GetItems() {
				if m, o := count(it); m != c.mine || o != c.others {
					t.Errorf("%s %s ListItems: %d own and %d others' actions, want %d and %d", c.name, protocol, m, o, c.mine, c.others)
				}
			}
		}
		rest := send(t, srv.Client(), "GET", srv.URL+"/item/fetch/ring-1", "", "", "Authorization", c.header)
		var res auctionv1.GetItemResponse
		if err := (jsonDecoder{}).unmarshal(rest.body, &res); err != nil {
			t.Fatalf("REST: %d %s", rest.status, rest.body)
		}
		if m, o := count(res.GetItem()); m != c.mine || o != c.others {
			t.Errorf("%s REST: %d own and %d others' actions, want %d and %d", c.name, m, o, c.mine, c.others)
		}
	}
}
