package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/internal/auth"
)

// goodKey is the one credential the fake dispatcher accepts.
const goodKey = "ak_good-key"

// authServer is a dispatcher stand-in that records the Authorization header
// of every call and answers as the real edge does: unauthenticated without
// the good key, permission_denied for the item "forbidden".
type authServer struct {
	auctionv1connect.UnimplementedAuctionServiceHandler
	mu   sync.Mutex
	seen []string
}

func (s *authServer) GetItem(_ context.Context, req *connect.Request[auctionv1.GetItemRequest]) (*connect.Response[auctionv1.GetItemResponse], error) {
	h := req.Header().Get("Authorization")
	s.mu.Lock()
	s.seen = append(s.seen, h)
	s.mu.Unlock()
	switch {
	case h != "Bearer "+goodKey:
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("missing or invalid credentials"))
	case req.Msg.GetId() == "forbidden":
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("the credential lacks the scope items:read"))
	case req.Msg.GetId() == "fraud":
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("the client is on the fraud list; the action was refused"))
	}
	return connect.NewResponse(&auctionv1.GetItemResponse{Item: &auctionv1.ItemWithHistory{Item: &auctionv1.Item{Id: req.Msg.GetId()}}}), nil
}

// headers returns the Authorization headers seen so far and forgets them.
func (s *authServer) headers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.seen
	s.seen = nil
	return h
}

// startAuthServer serves s over HTTP/1.1 and h2c on a random port, so that
// all three protocols reach it.
func startAuthServer(t testing.TB) (*authServer, string) {
	t.Helper()
	s := &authServer{}
	mux := http.NewServeMux()
	mux.Handle(auctionv1connect.NewAuctionServiceHandler(s))
	srv := httptest.NewUnstartedServer(mux)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// ctlEnv runs auctionctl with args and the environment env.
func ctlEnv(env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := runEnv(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestTokenIsSentOnEveryProtocol(t *testing.T) {
	s, url := startAuthServer(t)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags []string
	}{
		{"AUCTION_TOKEN", map[string]string{"AUCTION_TOKEN": goodKey}, nil},
		{"-token", nil, []string{"-token", goodKey}},
		{"-token wins over AUCTION_TOKEN", map[string]string{"AUCTION_TOKEN": "ak_stale"}, []string{"-token", goodKey}},
		{"pasted with its newline", map[string]string{"AUCTION_TOKEN": goodKey + "\n"}, nil},
		{"pasted with its scheme", map[string]string{"AUCTION_TOKEN": "Bearer " + goodKey}, nil},
	} {
		for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
			args := append(append([]string{"-addr", url, "-protocol", protocol}, tc.flags...), "get", "lamp-1")
			r := ctlEnv(tc.env, args...)
			if r.code != 0 || !strings.Contains(r.stdout, `"lamp-1"`) {
				t.Errorf("%s over %s: exit %d, stdout %q, stderr %q", tc.name, protocol, r.code, r.stdout, r.stderr)
			}
			if got := s.headers(); len(got) != 1 || got[0] != "Bearer "+goodKey {
				t.Errorf("%s over %s: Authorization headers sent %q, want one %q", tc.name, protocol, got, "Bearer "+goodKey)
			}
		}
	}
}

func TestRefusedCredentialIsExplained(t *testing.T) {
	s, url := startAuthServer(t)
	for _, tc := range []struct {
		name   string
		env    map[string]string
		id     string
		header string   // the Authorization header the server must see
		want   []string // in stderr
		not    []string // not in stderr
	}{
		{"no credential", nil, "lamp-1", "",
			[]string{"unauthenticated", "No credential was sent", "export AUCTION_TOKEN=", "banner"}, nil},
		{"wrong credential", map[string]string{"AUCTION_TOKEN": "ak_stale"}, "lamp-1", "Bearer ak_stale",
			[]string{"unauthenticated", "did not accept the credential", "$AUCTION_TOKEN", "-api-key"}, []string{"ak_stale"}},
		{"missing scope", map[string]string{"AUCTION_TOKEN": goodKey}, "forbidden", "Bearer " + goodKey,
			[]string{"permission_denied", "items:read", "not allowed this call"}, []string{goodKey}},
		{"fraud list is not about the credential", map[string]string{"AUCTION_TOKEN": goodKey}, "fraud", "Bearer " + goodKey,
			[]string{"permission_denied", "fraud list"}, []string{"AUCTION_TOKEN"}},
	} {
		r := ctlEnv(tc.env, "-addr", url, "get", tc.id)
		if r.code != exitCall || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q; want exit 1 and nothing on stdout", tc.name, r.code, r.stdout)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, r.stderr)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr shows %q:\n%s", tc.name, w, r.stderr)
			}
		}
		if got := s.headers(); len(got) != 1 || got[0] != tc.header {
			t.Errorf("%s: Authorization headers sent %q, want one %q", tc.name, got, tc.header)
		}
	}
}

func TestBadTokenIsAUsageError(t *testing.T) {
	s, url := startAuthServer(t)
	for _, token := range []string{"two words", "Bearer ", "bearer", "ak_x\x00y"} {
		r := ctlEnv(map[string]string{"AUCTION_TOKEN": token}, "-addr", url, "get", "x")
		if r.code != exitUsage || !strings.Contains(r.stderr, "AUCTION_TOKEN") || strings.Contains(r.stderr, token) {
			t.Errorf("token %q: exit %d, stderr %q; want exit 2 naming $AUCTION_TOKEN without echoing it", token, r.code, r.stderr)
		}
	}
	if got := s.headers(); len(got) != 0 {
		t.Errorf("calls were made with a malformed credential: %q", got)
	}
}

func TestHelpDoesNotPrintTheToken(t *testing.T) {
	r := ctlEnv(map[string]string{"AUCTION_TOKEN": goodKey}, "-help")
	if r.code != 0 || !strings.Contains(r.stdout, "-token") || !strings.Contains(r.stdout, "AUCTION_TOKEN") {
		t.Fatalf("-help: exit %d, stdout %q", r.code, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, goodKey) {
		t.Error("-help prints the credential from AUCTION_TOKEN")
	}
}

func TestAPIKeyCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := apiKeyFrom(strings.NewReader(""), &out, &errb, []string{"-id", "reports-1", "-scopes", "items:read, actions:write", "-client", "alice"})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var key, entry string
	for _, l := range strings.Split(out.String(), "\n") {
		if k, ok := strings.CutPrefix(l, "export AUCTION_TOKEN="); ok {
			key = k
		}
		if strings.HasPrefix(l, "{") {
			entry = l
		}
	}
	if !auth.IsAPIKey(key) {
		t.Fatalf("no key printed as export AUCTION_TOKEN=ak_...:\n%s", out.String())
	}
	f, err := auth.ParseKeyFile([]byte(`{"keys":[` + entry + `]}`))
	if err != nil {
		t.Fatalf("the printed entry is not a valid key file entry: %v\n%s", err, entry)
	}
	k := f.Keys[0]
	if k.ID != "reports-1" || k.Hash != auth.HashAPIKey(key) || k.Client != "alice" ||
		len(k.Scopes) != 2 || k.Scopes[0] != auth.ScopeItemsRead || k.Scopes[1] != auth.ScopeActionsWrite {
		t.Errorf("entry %+v does not store the printed key's hash with the given id, scopes and client", k)
	}
	if strings.Contains(entry, key) {
		t.Error("the entry holds the key itself")
	}

	// Two runs make two different keys.
	var again bytes.Buffer
	if apiKeyFrom(strings.NewReader(""), &again, &errb, []string{"-id", "reports-1", "-scopes", "items:read"}) != 0 || strings.Contains(again.String(), key) {
		t.Errorf("a second run repeats the key:\n%s", again.String())
	}

	// -stdin hashes a key given, and does not print it back.
	out.Reset()
	if code := apiKeyFrom(strings.NewReader(key+"\n"), &out, &errb, []string{"-stdin", "-id", "dev", "-scopes", "admin"}); code != 0 {
		t.Fatalf("-stdin: exit %d, stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), auth.HashAPIKey(key)) || strings.Contains(out.String(), key) {
		t.Errorf("-stdin printed %q; want the key's hash and not the key", out.String())
	}

	for _, args := range [][]string{
		{},
		{"-id", "x"},
		{"-scopes", "admin"},
		{"-id", "x", "-scopes", "root"},
		{"-id", "has space", "-scopes", "admin"},
		{"-id", "x", "-scopes", "admin", "extra"},
	} {
		var o, e bytes.Buffer
		if code := apiKeyFrom(strings.NewReader(""), &o, &e, args); code != exitUsage || o.Len() != 0 || !strings.Contains(e.String(), "-help") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, nothing printed and a pointer to -help", args, code, o.String(), e.String())
		}
	}
	var o, e bytes.Buffer
	if code := apiKeyFrom(strings.NewReader("not-a-key\n"), &o, &e, []string{"-stdin", "-id", "x", "-scopes", "admin"}); code != exitUsage || o.Len() != 0 {
		t.Errorf("-stdin with a non-key: exit %d, stdout %q", code, o.String())
	}
}
