// Package authtest is a stand-in OIDC issuer for tests: a discovery
// document and a JWKS served on a port-0 httptest server, and tokens minted
// with go-jose, including the malformed and hostile ones a verifier must
// refuse. Production code never imports it.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the audience the issuer's tokens carry by default.
const Audience = "auction-api"

// Issuer serves discovery and a JWKS, and signs tokens.
type Issuer struct {
	Server  *httptest.Server
	mu      sync.Mutex
	keys    []signingKey // published; keys[0] signs
	pending *signingKey  // a rotated key not yet published
	// JWKSFetches counts JWKS requests.
	JWKSFetches atomic.Int64
}

type signingKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// NewIssuer starts an issuer with one RSA key ("k1").
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.keys = []signingKey{newRSA(t, "k1")}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL(), "jwks_uri": is.URL() + "/jwks",
			"authorization_endpoint": is.URL() + "/auth", "token_endpoint": is.URL() + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.JWKSFetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(is.JWKS())
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Server.Close)
	return is
}

func newRSA(t testing.TB, kid string) signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.RS256, key: k}
}

// URL is the issuer's URL (its iss).
func (is *Issuer) URL() string { return is.Server.URL }

// JWKS is the published key set.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	is.mu.Lock()
	defer is.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: publicOf(k.key), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	return set
}

func publicOf(k any) any {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	}
	return nil
}

// Rotate adds a new RSA key that signs from now on; publish says whether
// the JWKS lists it yet.
func (is *Issuer) Rotate(t testing.TB, kid string, publish bool) {
	t.Helper()
	k := newRSA(t, kid)
	is.mu.Lock()
	defer is.mu.Unlock()
	if publish {
		is.keys = append([]signingKey{k}, is.keys...)
	} else {
		is.pending = &k
	}
}

// Publish lists the key Rotate held back, which then signs.
func (is *Issuer) Publish() {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.pending != nil {
		is.keys = append([]signingKey{*is.pending}, is.keys...)
		is.pending = nil
	}
}

// AddES256 adds an ES256 key that signs from now on.
func (is *Issuer) AddES256(t testing.TB, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append([]signingKey{{kid: kid, alg: jose.ES256, key: k}}, is.keys...)
}

// Claims are a token's claims; zero fields get defaults in Token.
type Claims struct {
	Subject   string
	Issuer    string // default: the issuer's URL
	Audience  string // default: Audience
	Expiry    time.Time
	NotBefore time.Time
	Scope     string   // the "scope" claim, space-separated
	Scp       []string // the "scp" claim
	Extra     map[string]any
}

func (is *Issuer) claims(c Claims) map[string]any {
	now := time.Now()
	m := map[string]any{"sub": c.Subject, "iss": is.URL(), "aud": Audience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.Audience != "" {
		m["aud"] = c.Audience
	}
	if !c.Expiry.IsZero() {
		m["exp"] = c.Expiry.Unix()
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	if c.Scope != "" {
		m["scope"] = c.Scope
	}
	if c.Scp != nil {
		m["scp"] = c.Scp
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	return m
}

// Token signs c with the current key (or the held-back one when
// unpublished is true).
func (is *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	return sign(t, k, is.claims(c))
}

// UnpublishedToken signs c with the key Rotate held back.
func (is *Issuer) UnpublishedToken(t testing.TB, c Claims) string {
	t.Helper()
	is.mu.Lock()
	k := *is.pending
	is.mu.Unlock()
	return sign(t, k, is.claims(c))
}

func sign(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// NoneToken is c unsigned, with "alg": "none".
func (is *Issuer) NoneToken(t testing.TB, c Claims) string {
	t.Helper()
	return unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, is.claims(c)) + "."
}

// HS256WithPublicKey is c signed with HMAC-SHA256 keyed by the current
// RSA public key in PEM (the algorithm-confusion attack); kid names the
// real key.
func (is *Issuer) HS256WithPublicKey(t testing.TB, c Claims) string {
	t.Helper()
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(publicOf(k.key))
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pub}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(is.claims(c)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func unsigned(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return strings.Join([]string{enc.EncodeToString(h), enc.EncodeToString(c)}, ".")
}
