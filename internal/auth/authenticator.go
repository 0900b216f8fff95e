package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// The errors of Authenticate; they wrap the cause, which is for logs.
var (
	// ErrNoCredentials: the request carries no Authorization header.
	ErrNoCredentials = errors.New("no credentials")
	// ErrInvalidCredentials: the credential is malformed, unknown, expired
	// or otherwise not accepted.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnavailable: the credential cannot be checked now (the OIDC issuer
	// does not answer); not the caller's fault.
	ErrUnavailable = errors.New("authentication unavailable")
)

// Authenticator turns an Authorization header into a principal: "Bearer
// ak_…" is an API key looked up in Keys, any other bearer a JWT checked by
// JWT. Either may be nil (that credential kind is then refused). Disabled
// (AUTH_MODE=none) makes everyone Anonymous.
type Authenticator struct {
	Keys     *KeyStore
	JWT      *OIDCVerifier
	Disabled bool
}

// Authenticate returns the principal of an Authorization header value. On
// failure the principal still names the kind of credential that was tried
// (KindNone when there was none), for the audit record.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Principal, error) {
	if a.Disabled {
		return Anonymous, nil
	}
	if authorization == "" {
		return Principal{Kind: KindNone}, ErrNoCredentials
	}
	scheme, cred, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" || strings.ContainsAny(cred, " \t") {
		return Principal{Kind: KindNone}, fmt.Errorf("%w: the Authorization header must be \"Bearer <credential>\"", ErrInvalidCredentials)
	}
	if IsAPIKey(cred) {
		if a.Keys == nil {
			return Principal{Kind: KindAPIKey}, fmt.Errorf("%w: API keys are not accepted (no API_KEYS_FILE)", ErrInvalidCredentials)
		}
		p, ok := a.Keys.Lookup(cred)
		if !ok {
			return Principal{Kind: KindAPIKey}, fmt.Errorf("%w: unknown API key", ErrInvalidCredentials)
		}
		return p, nil
	}
	if a.JWT == nil {
		return Principal{Kind: KindJWT}, fmt.Errorf("%w: bearer tokens are not accepted (no OIDC_ISSUER)", ErrInvalidCredentials)
	}
	return a.JWT.Verify(ctx, cred)
}
