package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// DefaultAlgorithms are the JWT signature algorithms accepted when
// OIDC_ALGORITHMS is not set.
var DefaultAlgorithms = []string{oidc.RS256, oidc.ES256}

// AsymmetricAlgorithms are the algorithms that may be allowed at all: a
// verifier holds only public keys, so symmetric ones (HS*) — with which a
// public key could be used as the secret — and "none" never are.
var AsymmetricAlgorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// OIDCConfig says which tokens are accepted.
type OIDCConfig struct {
	// Issuer must equal the token's iss; its discovery document gives the
	// JWKS URL unless JWKSURL is set.
	Issuer string
	// Audience must be among the token's aud.
	Audience string
	// JWKSURL, when set, skips discovery.
	JWKSURL string
	// Algorithms allowed (default DefaultAlgorithms); only asymmetric ones.
	Algorithms []string
	// ClientClaim names the claim holding the client a token is bound to
	// (default "sub").
	ClientClaim string
	// HTTPClient fetches discovery and keys (default: one with a 10s timeout).
	HTTPClient *http.Client
	// RetryDiscovery is how long a failed discovery is remembered before it
	// is tried again (default 10s).
	RetryDiscovery time.Duration
	// MinRefetch is the least time between two fetches of the JWKS that a
	// token naming an unknown key id may cause (default 10s).
	MinRefetch time.Duration
}

// OIDCVerifier checks bearer tokens of an OIDC issuer with go-oidc: the
// signature against the issuer's JWKS (cached, refetched when a token names
// an unknown kid, which is how keys rotate, at most every MinRefetch: see
// jwks), iss, aud, exp and nbf (go-oidc
// allows 5 minutes of clock skew on nbf), and the algorithm against the
// allow-list. Discovery is lazy, so that an issuer that is down does not
// stop the service from starting; tokens are refused until it answers.
type OIDCVerifier struct {
	cfg OIDCConfig

	mu        sync.Mutex
	verifier  *oidc.IDTokenVerifier
	failedAt  time.Time
	failedErr error
}

// NewOIDCVerifier checks cfg and returns its verifier.
func NewOIDCVerifier(cfg OIDCConfig) (*OIDCVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("OIDC: issuer and audience are both required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(AsymmetricAlgorithms, a) {
			return nil, fmt.Errorf("OIDC: algorithm %q not allowed (allowed: %s)", a, strings.Join(AsymmetricAlgorithms, ", "))
		}
	}
	if cfg.ClientClaim == "" {
		cfg.ClientClaim = "sub"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RetryDiscovery <= 0 {
		cfg.RetryDiscovery = 10 * time.Second
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = 10 * time.Second
	}
	v := &OIDCVerifier{cfg: cfg}
	if cfg.JWKSURL != "" {
		v.verifier = v.newVerifier(newJWKS(cfg.JWKSURL, cfg.HTTPClient, cfg.Algorithms, cfg.MinRefetch))
	}
	return v, nil
}

func (v *OIDCVerifier) newVerifier(keys oidc.KeySet) *oidc.IDTokenVerifier {
	return oidc.NewVerifier(v.cfg.Issuer, keys, &oidc.Config{ClientID: v.cfg.Audience, SupportedSigningAlgs: v.cfg.Algorithms})
}

// idTokenVerifier returns the verifier, discovering the issuer's JWKS on
// first use.
func (v *OIDCVerifier) idTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	if v.failedErr != nil && time.Since(v.failedAt) < v.cfg.RetryDiscovery {
		return nil, v.failedErr
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, v.cfg.HTTPClient), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, v.cfg.Issuer)
	if err != nil {
		v.failedAt, v.failedErr = time.Now(), fmt.Errorf("%w: OIDC discovery of %s: %w", ErrUnavailable, v.cfg.Issuer, err)
		return nil, v.failedErr
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		v.failedAt, v.failedErr = time.Now(), fmt.Errorf("%w: OIDC discovery of %s: no jwks_uri", ErrUnavailable, v.cfg.Issuer)
		return nil, v.failedErr
	}
	v.verifier = v.newVerifier(newJWKS(meta.JWKSURL, v.cfg.HTTPClient, v.cfg.Algorithms, v.cfg.MinRefetch))
	return v.verifier, nil
}

// Verify checks a bearer token and returns its principal: the subject as
// ID, the scopes of its "scope" (space-separated) or "scp" (array) claim
// that this API knows, and the client of the ClientClaim, unless the token
// is staff's (actions:write:any), which is bound to no client.
func (v *OIDCVerifier) Verify(ctx context.Context, raw string) (Principal, error) {
	p := Principal{Kind: KindJWT}
	iv, err := v.idTokenVerifier(ctx)
	if err != nil {
		return p, err
	}
	tok, err := iv.Verify(ctx, raw)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return p, fmt.Errorf("%w: claims: %w", ErrInvalidCredentials, err)
	}
	p.ID = tok.Subject
	if p.ID == "" {
		return p, fmt.Errorf("%w: the token has no subject", ErrInvalidCredentials)
	}
	p.Scopes = scopesOf(claims)
	if !p.Has(ScopeActionsWriteAny) {
		p.Client = claimString(claims[v.cfg.ClientClaim])
	}
	return p, nil
}

// scopesOf reads the known scopes of a token: "scope" as RFC 8693 and 9068
// spell it, or "scp" as some issuers do (an array or a string).
func scopesOf(claims map[string]any) []Scope {
	var names []string
	for _, c := range []string{"scope", "scp"} {
		switch v := claims[c].(type) {
		case string:
			names = append(names, strings.Fields(v)...)
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					names = append(names, s)
				}
			}
		}
	}
	var out []Scope
	for _, n := range names {
		if s := Scope(n); slices.Contains(AllScopes, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// claimString reads a claim holding a string (or a number, as some issuers
// put numeric user ids).
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return ""
}
