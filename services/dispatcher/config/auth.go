package config

import (
	"slices"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/envconfig"
)

// The values of AUTH_MODE.
const (
	// AuthRequired: every public call needs a credential (the default).
	AuthRequired = "required"
	// AuthNone: no credential is asked for; development only. It must be
	// set explicitly: a dispatcher with no credentials configured refuses
	// to start otherwise.
	AuthNone = "none"
)

// AuthConfig is how public callers are authenticated (API keys, OIDC
// tokens, or AUTH_MODE=none).
type AuthConfig struct {
	// Mode is AUTH_MODE: AuthRequired or AuthNone.
	Mode string
	// KeysFile is API_KEYS_FILE, the JSON file of API key hashes
	// (auth.KeyFile); reread when it changes, at most every KeysReload.
	KeysFile   string
	KeysReload time.Duration
	// OIDC: the issuer whose bearer tokens are accepted (empty: none).
	OIDCIssuer      string
	OIDCAudience    string
	OIDCJWKSURL     string
	OIDCAlgorithms  []string
	OIDCClientClaim string
}

// None reports AUTH_MODE=none.
func (a AuthConfig) None() bool { return a.Mode == AuthNone }

// loadAuth reads the public API's authentication. AUTH_MODE=required (the
// default) needs API_KEYS_FILE or OIDC_ISSUER (or both): a dispatcher that
// would accept no credential at all is a configuration error, not an open
// API.
func loadAuth(l *envconfig.Loader) AuthConfig {
	a := AuthConfig{
		Mode:            l.OneOf("AUTH_MODE", AuthRequired, []string{AuthRequired, AuthNone}, "authentication of API callers (and of the cluster): required, or none to run without any (development only; logged as a warning)"),
		KeysFile:        l.String("API_KEYS_FILE", "", "JSON file of API keys, stored as hashes: {\"keys\":[{\"id\",\"hash\":\"sha256:<hex>\",\"scopes\":[...],\"client\"}]} (reread when it changes)"),
		KeysReload:      l.Duration("API_KEYS_RELOAD_INTERVAL", 5*time.Second, 100*time.Millisecond, time.Hour, "how often API_KEYS_FILE is checked for changes"),
		OIDCIssuer:      l.String("OIDC_ISSUER", "", "OIDC issuer URL whose bearer tokens (JWT) are accepted; its discovery document gives the JWKS"),
		OIDCAudience:    l.String("OIDC_AUDIENCE", "", "audience (aud) tokens must carry; required with OIDC_ISSUER"),
		OIDCJWKSURL:     l.String("OIDC_JWKS_URL", "", "JWKS URL of the issuer's signing keys; empty: from discovery"),
		OIDCClientClaim: l.String("OIDC_CLIENT_CLAIM", "sub", "claim naming the client a token is bound to (it may act as that client only; tokens with actions:write:any are staff, bound to none)"),
	}
	algs := l.String("OIDC_ALGORITHMS", strings.Join(auth.DefaultAlgorithms, ","), "comma-separated JWT signature algorithms accepted (asymmetric only: "+strings.Join(auth.AsymmetricAlgorithms, ", ")+")")
	for _, s := range strings.Split(algs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(auth.AsymmetricAlgorithms, s) {
			l.Fail("OIDC_ALGORITHMS", "%q is not allowed; use asymmetric algorithms only (%s), never none or HS*", s, strings.Join(auth.AsymmetricAlgorithms, ", "))
			continue
		}
		a.OIDCAlgorithms = append(a.OIDCAlgorithms, s)
	}
	if len(a.OIDCAlgorithms) == 0 {
		l.Fail("OIDC_ALGORITHMS", "names no algorithm")
	}
	for name, u := range map[string]string{"OIDC_ISSUER": a.OIDCIssuer, "OIDC_JWKS_URL": a.OIDCJWKSURL} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			l.Fail(name, "%q is not an http(s) URL", u)
		}
	}
	if a.OIDCClientClaim == "" {
		l.Fail("OIDC_CLIENT_CLAIM", "must name a claim")
	}
	switch {
	case a.OIDCIssuer != "" && a.OIDCAudience == "":
		l.Fail("OIDC_AUDIENCE", "is required with OIDC_ISSUER: tokens issued for other applications must not be accepted")
	case a.OIDCIssuer == "" && (a.OIDCAudience != "" || a.OIDCJWKSURL != ""):
		l.Fail("OIDC_ISSUER", "is required with OIDC_AUDIENCE and OIDC_JWKS_URL")
	}
	if a.Mode == AuthRequired && a.KeysFile == "" && a.OIDCIssuer == "" {
		l.Fail("AUTH_MODE", "is required (the default) but no credential is configured: set API_KEYS_FILE and/or OIDC_ISSUER (with OIDC_AUDIENCE), or AUTH_MODE=none to run without authentication (development only)")
	}
	return a
}
