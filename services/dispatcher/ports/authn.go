package ports

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/internal/auth"
)

// Authenticator proves who a caller is from its Authorization header
// (auth.Authenticator). On failure the principal names the credential kind
// that was tried, for the audit record.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Principal, error)
}

// realm is the WWW-Authenticate realm of every 401 and 403.
const realm = `Bearer realm="auction"`

// authInterceptor is the pipeline's auth step, the same for every protocol
// (REST reaches it through the transcoder, which forwards the
// Authorization header): it authenticates the call, records the principal
// in the call's audit record, authorizes it by the policy table, puts the
// principal in the context, and filters the histories a read returns.
type authInterceptor struct {
	authn Authenticator
	log   *slog.Logger
}

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if policy[req.Spec().Procedure].open {
			return next(ctx, req)
		}
		p, err := a.authenticate(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		procedure := req.Spec().Procedure
		if err := authorize(p, procedure, req.Any()); err != nil {
			return nil, authError(ctx, a.log, err)
		}
		res, err := next(auth.NewContext(ctx, p), req)
		if err == nil && res != nil && policy[procedure].readsHistory {
			filterHistories(p, res.Any())
		}
		return res, err
	}
}

func (authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler applies the same checks to streams (the API has
// none; a procedure that acts as a client is refused, its message not being
// known yet).
func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if policy[conn.Spec().Procedure].open {
			return next(ctx, conn)
		}
		p, err := a.authenticate(ctx, conn.RequestHeader())
		if err != nil {
			return err
		}
		if err := authorize(p, conn.Spec().Procedure, nil); err != nil {
			return authError(ctx, a.log, err)
		}
		return next(auth.NewContext(ctx, p), conn)
	}
}

// authenticate proves the caller of a call and records it in the audit
// record, refused or not.
func (a authInterceptor) authenticate(ctx context.Context, h http.Header) (auth.Principal, error) {
	p, err := a.authn.Authenticate(ctx, h.Get("Authorization"))
	callFrom(ctx).setPrincipal(p)
	if err != nil {
		return p, authError(ctx, a.log, err)
	}
	return p, nil
}

// authError is the API's answer to a failed authentication or a denial:
// unauthenticated (401) or permission_denied (403) with WWW-Authenticate as
// RFC 6750 spells it (error="invalid_token" when a credential was given
// but not accepted, error="insufficient_scope" with the scope wanted), or
// unavailable when the issuer cannot be reached. The header travels as the
// error's metadata: Connect writes it as a header on every protocol, and
// the REST writer copies it (writeError).
func authError(ctx context.Context, log *slog.Logger, err error) *connect.Error {
	var (
		kind      error
		msg       string
		challenge string
		d         *denial
	)
	switch {
	case errors.As(err, &d):
		cerr, _ := toConnectError(ctx, log, err)
		if d.scope != "" {
			setChallenge(ctx, cerr, realm+`, error="insufficient_scope", scope="`+string(d.scope)+`"`)
		}
		return cerr
	case errors.Is(err, auth.ErrNoCredentials):
		kind, challenge = errUnauthenticated, realm
		msg = "this call needs a credential: send Authorization: Bearer <API key or access token>"
	case errors.Is(err, auth.ErrUnavailable):
		kind, msg = errAuthUnavailable, "credentials cannot be checked right now; retry later"
	default:
		kind, challenge = errUnauthenticated, realm+`, error="invalid_token"`
		msg = "the credential is not valid: an unknown API key, or a token that is malformed, expired, not yet valid, for another issuer or audience, or not signed by the issuer"
	}
	log.DebugContext(ctx, "authentication failed", "err", err)
	cerr, _ := toConnectError(ctx, log, refuse(kind, "%s", msg))
	if challenge != "" {
		setChallenge(ctx, cerr, challenge)
	}
	return cerr
}

// setChallenge gives an error its WWW-Authenticate: as metadata (Connect
// and gRPC-Web write it as a header, REST copies it) and through the
// context to withChallenge, since gRPC sends an error's metadata in HTTP/2
// trailers, where net/http does not allow WWW-Authenticate: there it is
// only a header (gRPC clients see it among the error's metadata all the
// same), or net/http would log a warning for every refused gRPC call.
func setChallenge(ctx context.Context, cerr *connect.Error, v string) {
	if c := callFrom(ctx); c == nil || c.protocol != protoGRPC {
		cerr.Meta().Set("WWW-Authenticate", v)
	}
	if c, ok := ctx.Value(challengeKey{}).(*challenge); ok {
		c.set(v)
	}
}

type challengeKey struct{}

// challenge is the WWW-Authenticate of a call's answer, if any.
type challenge struct {
	mu sync.Mutex
	v  string
}

func (c *challenge) set(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.v = v
}

func (c *challenge) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v
}

// withChallenge lets the auth step's WWW-Authenticate reach the response
// headers of every protocol (see setChallenge).
func withChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &challenge{}
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, c: c}, r.WithContext(context.WithValue(r.Context(), challengeKey{}, c)))
	})
}

// challengeWriter adds the call's WWW-Authenticate when the answer starts.
type challengeWriter struct {
	http.ResponseWriter
	c       *challenge
	started bool
}

func (w *challengeWriter) start() {
	if w.started {
		return
	}
	w.started = true
	if v := w.c.get(); v != "" && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", v)
	}
}

func (w *challengeWriter) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming protocols working.
func (w *challengeWriter) Flush() {
	w.start()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// principalOf authenticates a plain HTTP request (the operator's routes).
func principalOf(a Authenticator, r *http.Request) (auth.Principal, error) {
	return a.Authenticate(r.Context(), r.Header.Get("Authorization"))
}

// requireScope guards an operator's route: 401 without a valid credential,
// 403 without scope.
func requireScope(a Authenticator, scope auth.Scope, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := principalOf(a, r)
		if err == nil && !p.Has(scope) {
			err = &denial{scope: scope, msg: "this route needs the scope " + string(scope) + ", which the credential does not carry"}
		}
		if err != nil {
			writeError(r.Context(), log, w, r, true, authError(r.Context(), log, err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the address of the client of r as the audit record names
// it: the last address of the trusted proxy's header when one is configured
// and present, else the connection's.
func clientAddr(r *http.Request, header string) string {
	if header != "" {
		if v := r.Header.Values(header); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return ip.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String()
	}
	return host
}
