package service

import (
	"fmt"
	"log/slog"

	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/services/dispatcher/config"
	"github.com/pawnshop/auction/services/dispatcher/ports"
)

// newAuthenticator is how the public edge proves its callers: the API keys
// of API_KEYS_FILE and the tokens of OIDC_ISSUER, or nobody asked with
// AUTH_MODE=none, which is logged as a warning at start (and shown by
// /readyz and on the edge's log lines). A key file that does not load stops
// the start: the configuration check already refused a dispatcher with no
// credential configured.
func newAuthenticator(c config.Config, log *slog.Logger) (ports.Authenticator, error) {
	if c.Auth.None() {
		log.Warn("AUTH_MODE=none: the public API asks no credential; anyone who reaches it may add items, record actions for any client and read every history (development only)")
		return &auth.Authenticator{Disabled: true}, nil
	}
	a := &auth.Authenticator{}
	if c.Auth.KeysFile != "" {
		keys, err := auth.LoadKeyStore(c.Auth.KeysFile, c.Auth.KeysReload, log.With("component", "api-keys"))
		if err != nil {
			return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
		}
		log.Info("API keys loaded", "path", c.Auth.KeysFile, "keys", keys.Len())
		a.Keys = keys
	}
	if c.Auth.OIDCIssuer != "" {
		v, err := auth.NewOIDCVerifier(auth.OIDCConfig{
			Issuer: c.Auth.OIDCIssuer, Audience: c.Auth.OIDCAudience, JWKSURL: c.Auth.OIDCJWKSURL,
			Algorithms: c.Auth.OIDCAlgorithms, ClientClaim: c.Auth.OIDCClientClaim,
		})
		if err != nil {
			return nil, fmt.Errorf("OIDC: %w", err)
		}
		log.Info("OIDC bearer tokens accepted", "issuer", c.Auth.OIDCIssuer, "audience", c.Auth.OIDCAudience, "algorithms", c.Auth.OIDCAlgorithms)
		a.JWT = v
	}
	return a, nil
}
