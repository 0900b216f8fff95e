// Package auth is who a caller is and what it may do: the principal a
// credential proves, the scopes it carries and the client it is bound to.
// The dispatcher's edge authenticates public callers into a Principal
// (API keys and OIDC tokens); cluster peers are named by their certificate
// (see internal/clustertls). Policy (which scope a route needs) is the
// caller's business; this package only says what a principal holds.
package auth

import (
	"context"
	"slices"
)

// Scope is a permission a credential carries.
type Scope string

// The scopes of the public API.
const (
	// ScopeItemsRead allows fetching items (GetItem, ListItems).
	ScopeItemsRead Scope = "items:read"
	// ScopeItemsWrite allows adding items (AddItem).
	ScopeItemsWrite Scope = "items:write"
	// ScopeActionsWrite allows recording Buy, Sell and Pawn actions as the
	// principal's own client.
	ScopeActionsWrite Scope = "actions:write"
	// ScopeActionsWriteAny allows recording actions for any client (staff)
	// and reading every client's history.
	ScopeActionsWriteAny Scope = "actions:write:any"
	// ScopeAdmin allows the operator's views: readiness details and metrics.
	ScopeAdmin Scope = "admin"
)

// AllScopes lists every scope, in a stable order (the dev stack's key has
// them all).
var AllScopes = []Scope{ScopeItemsRead, ScopeItemsWrite, ScopeActionsWrite, ScopeActionsWriteAny, ScopeAdmin}

// Kind names the credential a principal was proved by; audit records carry it.
type Kind string

// The credential kinds.
const (
	KindNone   Kind = "none"    // AUTH_MODE=none: nobody was asked
	KindAPIKey Kind = "api_key" // a machine's API key
	KindJWT    Kind = "jwt"     // an OIDC bearer token
	KindMTLS   Kind = "mtls"    // a cluster peer's certificate
)

// Principal is an authenticated caller.
type Principal struct {
	// Kind is the credential that proved it.
	Kind Kind
	// ID names the principal in audit records and logs: a key's id, a
	// token's subject, a peer's certificate identity.
	ID string
	// Client is the shop client the principal acts as; empty when it is not
	// bound to one (staff, machines).
	Client string
	// Scopes are what the credential allows.
	Scopes []Scope
}

// Has reports whether p carries scope s.
func (p Principal) Has(s Scope) bool { return slices.Contains(p.Scopes, s) }

// Anonymous is the principal of AUTH_MODE=none: every scope, no identity.
// It exists so that the rest of the code path never branches on "no auth".
var Anonymous = Principal{Kind: KindNone, ID: "anonymous", Scopes: AllScopes}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
