package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/auth/authtest"
)

// writeKeys writes a key file of entries and returns its path.
func writeKeys(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyFile(entries ...string) string { return `{"keys":[` + strings.Join(entries, ",") + `]}` }

func entry(id, key, client string, scopes ...string) string {
	return `{"id":"` + id + `","hash":"` + auth.HashAPIKey(key) + `","scopes":["` + strings.Join(scopes, `","`) + `"],"client":"` + client + `"}`
}

func TestAPIKeyStoredOnlyHashed(t *testing.T) {
	key := auth.NewAPIKey()
	p := writeKeys(t, t.TempDir(), keyFile(entry("ops-1", key, "alice", "items:read", "actions:write")))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(key, auth.APIKeyPrefix)
	if strings.Contains(string(b), secret) || strings.Contains(string(b), key) {
		t.Fatalf("the key file holds the key: %s", b)
	}
	s, err := auth.LoadKeyStore(p, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.Lookup(key)
	if !ok || got.ID != "ops-1" || got.Kind != auth.KindAPIKey || got.Client != "alice" || !got.Has(auth.ScopeActionsWrite) || got.Has(auth.ScopeAdmin) {
		t.Fatalf("Lookup(key) = %+v, %v", got, ok)
	}
	// A wrong key, and the stored hash itself presented as a key, fail.
	for _, wrong := range []string{auth.NewAPIKey(), key[:len(key)-1] + "x", auth.HashAPIKey(key), ""} {
		if p, ok := s.Lookup(wrong); ok {
			t.Errorf("Lookup(%q) = %+v, want refused", wrong, p)
		}
	}
}

func TestKeyFileValidation(t *testing.T) {
	k := auth.NewAPIKey()
	cases := map[string]string{
		"duplicate id":    keyFile(entry("a", k, "", "admin"), entry("a", auth.NewAPIKey(), "", "admin")),
		"duplicate hash":  keyFile(entry("a", k, "", "admin"), entry("b", k, "", "admin")),
		"unsafe id":       keyFile(entry("a b\n", k, "", "admin")),
		"empty id":        keyFile(entry("", k, "", "admin")),
		"unknown scope":   keyFile(entry("a", k, "", "root")),
		"no scope":        `{"keys":[{"id":"a","hash":"` + auth.HashAPIKey(k) + `","scopes":[]}]}`,
		"plain hash":      `{"keys":[{"id":"a","hash":"` + strings.TrimPrefix(auth.HashAPIKey(k), "sha256:") + `","scopes":["admin"]}]}`,
		"upper-case hash": `{"keys":[{"id":"a","hash":"` + strings.ToUpper(auth.HashAPIKey(k)) + `","scopes":["admin"]}]}`,
		"plaintext key":   `{"keys":[{"id":"a","key":"` + k + `","hash":"` + auth.HashAPIKey(k) + `","scopes":["admin"]}]}`,
		"not JSON":        `keys: []`,
		"trailing data":   keyFile(entry("a", k, "", "admin")) + `{}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := auth.ParseKeyFile([]byte(body)); err == nil {
				t.Fatalf("accepted %s", body)
			}
			if _, err := auth.LoadKeyStore(writeKeys(t, t.TempDir(), body), time.Hour, slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("LoadKeyStore accepted it")
			}
		})
	}
	if _, err := auth.ParseKeyFile([]byte(keyFile(entry("ops.1_a-b", k, "c", "items:read", "admin")))); err != nil {
		t.Fatalf("refused a valid file: %v", err)
	}
}

// TestKeyStoreReloads: a changed file is taken (a new key works, a removed
// one stops working); a broken file is refused and the last good set kept.
func TestKeyStoreReloads(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := auth.NewAPIKey(), auth.NewAPIKey()
	p := writeKeys(t, dir, keyFile(entry("one", k1, "", "items:read")))
	s, err := auth.LoadKeyStore(p, time.Nanosecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup(k2); ok {
		t.Fatal("k2 known before it was added")
	}
	// Replace as a Kubernetes secret update does (a new file renamed into
	// place), with a different size so that the change is seen whatever
	// the file system's mtime granularity.
	replace := func(body string) {
		tmp := filepath.Join(dir, "next")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	replace(keyFile(entry("two", k2, "bob", "items:read", "items:write")))
	if got, ok := s.Lookup(k2); !ok || got.ID != "two" {
		t.Fatalf("after reload Lookup(k2) = %+v, %v", got, ok)
	}
	if _, ok := s.Lookup(k1); ok {
		t.Fatal("removed key k1 still accepted")
	}
	replace(`{"keys":[{"id":"broken"`)
	if got, ok := s.Lookup(k2); !ok || got.ID != "two" {
		t.Fatalf("after a broken file Lookup(k2) = %+v, %v; want the last good set", got, ok)
	}
}

func TestAuthenticatorHeaders(t *testing.T) {
	key := auth.NewAPIKey()
	s, err := auth.LoadKeyStore(writeKeys(t, t.TempDir(), keyFile(entry("m", key, "", "items:read"))), time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{Keys: s}
	ctx := context.Background()
	if p, err := a.Authenticate(ctx, "Bearer "+key); err != nil || p.ID != "m" {
		t.Fatalf("Bearer key = %+v, %v", p, err)
	}
	if p, err := a.Authenticate(ctx, "bearer "+key); err != nil || p.ID != "m" {
		t.Fatalf("lower-case scheme = %+v, %v", p, err)
	}
	if _, err := a.Authenticate(ctx, ""); !errors.Is(err, auth.ErrNoCredentials) {
		t.Fatalf("no header: %v", err)
	}
	for _, h := range []string{"Basic " + key, key, "Bearer ", "Bearer " + key + " x", "Bearer " + auth.NewAPIKey(), "Bearer eyJ.a.b"} {
		if p, err := a.Authenticate(ctx, h); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("%q = %+v, %v; want ErrInvalidCredentials", h, p, err)
		}
	}
	if p, err := (&auth.Authenticator{Disabled: true}).Authenticate(ctx, ""); err != nil || p.Kind != auth.KindNone || !p.Has(auth.ScopeAdmin) {
		t.Fatalf("disabled = %+v, %v", p, err)
	}
}

func TestOIDCConfigRefusesUnsafeAlgorithms(t *testing.T) {
	for _, alg := range []string{"none", "HS256", "HS512", "rs256"} {
		if _, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: "https://i", Audience: "a", Algorithms: []string{alg}}); err == nil {
			t.Errorf("algorithm %q allowed", alg)
		}
	}
	if _, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: "https://i"}); err == nil {
		t.Error("no audience accepted")
	}
}

// TestJWT drives the verifier against a stand-in issuer (discovery and
// JWKS on a port-0 server): the accepted tokens and every refused kind.
func TestJWT(t *testing.T) {
	is := authtest.NewIssuer(t)
	// Every unknown kid may refetch the key set here; TestJWKSRefetchBounded
	// covers the bound.
	v, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: is.URL(), Audience: authtest.Audience, MinRefetch: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{JWT: v}
	ctx := context.Background()
	ok := func(name, tok string) auth.Principal {
		t.Helper()
		p, err := a.Authenticate(ctx, "Bearer "+tok)
		if err != nil {
			t.Fatalf("%s: refused: %v", name, err)
		}
		return p
	}
	refused := func(name, tok string) {
		t.Helper()
		if p, err := a.Authenticate(ctx, "Bearer "+tok); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("%s: got %+v, %v; want ErrInvalidCredentials", name, p, err)
		} else if p.Kind != auth.KindJWT {
			t.Errorf("%s: refused principal kind %q, want jwt", name, p.Kind)
		}
	}

	p := ok("valid", is.Token(t, authtest.Claims{Subject: "alice", Scope: "items:read actions:write unknown:scope"}))
	if p.Kind != auth.KindJWT || p.ID != "alice" || p.Client != "alice" || !p.Has(auth.ScopeActionsWrite) || p.Has(auth.ScopeItemsWrite) || len(p.Scopes) != 2 {
		t.Fatalf("valid token: %+v", p)
	}
	p = ok("scp array", is.Token(t, authtest.Claims{Subject: "svc", Scp: []string{"items:write", "actions:write:any"}}))
	if p.Client != "" || !p.Has(auth.ScopeItemsWrite) || !p.Has(auth.ScopeActionsWriteAny) {
		t.Fatalf("staff token must be unbound: %+v", p)
	}

	refused("expired", is.Token(t, authtest.Claims{Subject: "alice", Expiry: time.Now().Add(-time.Minute)}))
	refused("not yet valid", is.Token(t, authtest.Claims{Subject: "alice", NotBefore: time.Now().Add(time.Hour)}))
	refused("wrong audience", is.Token(t, authtest.Claims{Subject: "alice", Audience: "another-api"}))
	refused("wrong issuer", is.Token(t, authtest.Claims{Subject: "alice", Issuer: "https://evil.example"}))
	refused("alg none", is.NoneToken(t, authtest.Claims{Subject: "alice", Scope: "admin"}))
	refused("HS256 keyed with the public key", is.HS256WithPublicKey(t, authtest.Claims{Subject: "alice", Scope: "admin"}))
	refused("no subject", is.Token(t, authtest.Claims{}))
	refused("garbage", "not.a.jwt")
	good := is.Token(t, authtest.Claims{Subject: "alice"})
	refused("tampered payload", good[:strings.Index(good, ".")+1]+"eyJzdWIiOiJtYWxsb3J5In0"+good[strings.LastIndex(good, "."):])

	// Rotation: a token signed by a key the JWKS does not list yet is
	// refused (after a refetch); once the issuer publishes the key, the
	// same token is accepted, and so are tokens of the old key still listed.
	old := is.Token(t, authtest.Claims{Subject: "alice"})
	is.Rotate(t, "k2", false)
	rotated := is.UnpublishedToken(t, authtest.Claims{Subject: "alice"})
	before := is.JWKSFetches.Load()
	refused("unknown kid", rotated)
	if is.JWKSFetches.Load() == before {
		t.Error("an unknown kid did not refetch the JWKS")
	}
	is.Publish()
	ok("rotated kid once published", rotated)
	ok("old kid still listed", old)

	// ES256 is allowed by default.
	is.AddES256(t, "e1")
	ok("ES256", is.Token(t, authtest.Claims{Subject: "alice"}))
}

// TestJWTClientClaim binds a token to the configured claim, and a JWKS URL
// given directly skips discovery.
func TestJWTClientClaim(t *testing.T) {
	is := authtest.NewIssuer(t)
	v, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: is.URL(), Audience: authtest.Audience, JWKSURL: is.URL() + "/jwks", ClientClaim: "client_id"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), is.Token(t, authtest.Claims{Subject: "u-1", Scope: "actions:write", Extra: map[string]any{"client_id": "alice"}}))
	if err != nil || p.Client != "alice" || p.ID != "u-1" {
		t.Fatalf("got %+v, %v", p, err)
	}
	p, err = v.Verify(context.Background(), is.Token(t, authtest.Claims{Subject: "u-2", Scope: "actions:write"}))
	if err != nil || p.Client != "" {
		t.Fatalf("a token without the claim must be bound to no client: %+v, %v", p, err)
	}
}

// TestOIDCIssuerDown: discovery that fails is ErrUnavailable (not the
// caller's fault), not invalid credentials.
func TestOIDCIssuerDown(t *testing.T) {
	is := authtest.NewIssuer(t)
	url := is.URL()
	is.Server.Close()
	v, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: url, Audience: authtest.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), "a.b.c"); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// TestJWKSRefetchBounded: forged tokens, with a key id the issuer publishes
// or one it does not, do not turn into requests to the issuer: the key set
// is fetched once, and again only after MinRefetch.
func TestJWKSRefetchBounded(t *testing.T) {
	is := authtest.NewIssuer(t)
	v, err := auth.NewOIDCVerifier(auth.OIDCConfig{Issuer: is.URL(), Audience: authtest.Audience, MinRefetch: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := is.Token(t, authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for the first token, want 1", n)
	}
	forged := good[:strings.LastIndex(good, ".")+1] + "AAAA"
	is.Rotate(t, "k-unpublished", false)
	unknownKid := is.UnpublishedToken(t, authtest.Claims{Subject: "alice"})
	for range 20 {
		for _, tok := range []string{forged, unknownKid} {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("forged token: %v", err)
			}
		}
	}
	if n := is.JWKSFetches.Load(); n > 2 {
		t.Fatalf("%d JWKS fetches for 40 forged tokens, want at most one refetch", n)
	}
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatalf("the good token after the forged ones: %v", err)
	}
}
