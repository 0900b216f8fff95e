package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/requestid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// newPipeline is the one chain of interceptors every RPC goes through, on
// every protocol: Connect, gRPC and gRPC-Web through the Connect handler,
// REST through the transcoder (wire.go), which wraps the same interceptors
// around the same handler methods. Outermost
// first:
//
//  1. request id: the edge's, or one of the call's own;
//  2. audit and metrics: one record and one count per call, of the final
//     outcome (so it sits outside everything that can refuse a call);
//  3. auth (authn.go): who the caller is (API key or OIDC token) and whether
//     the policy table (policy.go) lets it make this call; 401 or 403;
//  4. validation against the protovalidate rules, fields named as in JSON;
//  5. error mapping: a use case's error becomes its API code (errors.go).
func newPipeline(v protovalidate.Validator, log *slog.Logger, auth connect.Interceptor) []connect.Interceptor {
	chain := []connect.Interceptor{connect.UnaryInterceptorFunc(withRequestID), connect.UnaryInterceptorFunc(audit)}
	if auth != nil {
		chain = append(chain, auth)
	}
	return append(chain, validateInterceptor{v: v, log: log}, connect.UnaryInterceptorFunc(mapErrors(log)))
}

// withRequestID gives the call a request id: the edge has put one in the
// context of every HTTP request (the client's X-Request-Id when well-formed,
// echoed in the response); a call that did not come through it takes its
// header's or a new one.
func withRequestID(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if requestid.FromContext(ctx) == "" {
			id := req.Header().Get(requestid.Header)
			if !requestid.Valid(id) {
				id = requestid.New()
			}
			ctx = requestid.NewContext(ctx, id)
		}
		return next(ctx, req)
	}
}

// The ids an audit record takes from the messages of a call: the generated
// request types of actions have a client id, the responses of writes an
// event id.
type (
	hasClientID interface{ GetClientId() string }
	hasEventID  interface{ GetEventId() string }
)

// audit ends the call the edge began (call) with its outcome, as seen from
// outside every later interceptor: the code of the error, the HTTP status
// that the protocol writes for it, the client id of the request and the
// event id of the response.
func audit(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		c := callFrom(ctx)
		if c == nil {
			return res, err // not a public API call (a worker's membership call)
		}
		outcome, status := outcomeOK, http.StatusOK
		if err != nil {
			code := connect.CodeOf(err)
			outcome, status = code.String(), httpStatusOf(c.protocol, code)
		} else if c.protocol == protoREST && c.write {
			status = http.StatusAccepted // see acceptedForWrites
		}
		var clientID, eventID string
		if m, ok := req.Any().(hasClientID); ok {
			clientID = m.GetClientId()
		}
		if res != nil {
			if m, ok := res.Any().(hasEventID); ok {
				eventID = m.GetEventId()
			}
		}
		c.finish(outcome, status, clientID, eventID)
		return res, err
	}
}

// mapErrors turns a handler's error into the API's terms (toConnectError).
func mapErrors(log *slog.Logger) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			res, err := next(ctx, req)
			if err != nil {
				cerr, _ := toConnectError(ctx, log, err)
				return nil, cerr
			}
			return res, nil
		}
	}
}

// validateInterceptor checks every request against its protovalidate rules
// before the handler runs. Unlike connectrpc.com/validate it names fields by
// their JSON names (priceCents, not price_cents), in the message and in the
// buf.validate.Violations detail alike, since JSON is what clients write
// (validate.go).
type validateInterceptor struct {
	v   protovalidate.Validator
	log *slog.Logger
}

func (i validateInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if m, ok := req.Any().(proto.Message); ok {
			if err := i.check(ctx, m); err != nil {
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

func (validateInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i validateInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &validatingConn{StreamingHandlerConn: conn, i: i, ctx: ctx})
	}
}

type validatingConn struct {
	connect.StreamingHandlerConn
	i   validateInterceptor
	ctx context.Context
}

func (c *validatingConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return c.i.check(c.ctx, pm)
	}
	return nil
}

// check validates m; a violation is invalid_argument with the violations
// as detail, a failure of the validator itself internal (logged).
func (i validateInterceptor) check(ctx context.Context, m proto.Message) error {
	err := i.v.Validate(m)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		cerr, _ := toConnectError(ctx, i.log, fmt.Errorf("validation failed to run: %w", err))
		return cerr
	}
	return violationsError(m.ProtoReflect().Descriptor(), verr)
}

// Auditor takes the audit record of each finished call. It must not block.
type Auditor interface {
	Record(*eventsv1.AuditRecord)
}

// observer turns finished calls into audit records and request metrics.
type observer struct {
	auditor Auditor
	metrics *Metrics
}

// The protocols a call arrives by, as audit records and metrics name them.
const (
	protoREST    = "rest"
	protoConnect = "connect"
	protoGRPC    = "grpc"
	protoGRPCWeb = "grpcweb"
	outcomeOK    = "ok"
)

// call is one public API call, from the edge to its answer. The edge begins
// it with what the request says (route, protocol, request id) and passes it
// down in the context; it ends exactly once, by whoever learns the outcome
// first: the audit interceptor for a call that reaches the pipeline, the
// edge for a call that does not (refused at the edge, or answered by
// Connect or the REST transcoder before the pipeline ran: a body that does
// not decode). Nothing is read back from it: it is the record, emitted when
// it ends, not a note for a later reader.
type call struct {
	obs                        *observer
	route, protocol, requestID string
	remote                     string // the client's address (CLIENT_IP_HEADER honored)
	write                      bool   // a write: REST answers 202
	start                      time.Time
	ended                      atomic.Bool
	// principal is who the auth step found (or the kind of credential it
	// refused); set before the call ends, by the goroutine that ends it.
	principal auth.Principal
}

// setPrincipal records the caller of the call.
func (c *call) setPrincipal(p auth.Principal) {
	if c != nil {
		c.principal = p
	}
}

type callKey struct{}

// begin starts the call of an audited request.
func (o *observer) begin(r *http.Request, requestID, remote string, write bool) *call {
	return &call{obs: o, route: routeOf(r), protocol: protocolOf(r), requestID: requestID, remote: remote, write: write, start: time.Now()}
}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// finish records the outcome of the call, the first time only.
func (c *call) finish(outcome string, httpStatus int, clientID, eventID string) {
	if c == nil || !c.ended.CompareAndSwap(false, true) {
		return
	}
	latency := time.Since(c.start)
	c.obs.metrics.requests.WithLabelValues(c.route, c.protocol, outcome).Inc()
	c.obs.metrics.duration.WithLabelValues(c.route, c.protocol).Observe(latency.Seconds())
	c.obs.auditor.Record(&eventsv1.AuditRecord{
		Route:      c.route,
		Protocol:   c.protocol,
		Status:     outcome,
		HttpStatus: int32(httpStatus),
		Latency:    durationpb.New(latency),
		RequestId:  c.requestID,
		ClientId:   clientID,
		EventId:    eventID,
		Time:       timestamppb.New(time.Now().Truncate(time.Millisecond)),
		// Who called, with what, from where; a refused credential leaves
		// its kind and no principal.
		Principal:      cutUTF8(c.principal.ID, maxPrincipalLen),
		CredentialKind: string(c.principal.Kind),
		RemoteAddress:  cutUTF8(c.remote, maxRemoteLen),
	})
}

// The audit record's bounds on what a caller chooses (a token's subject)
// or a proxy passes on.
const (
	maxPrincipalLen = 256
	maxRemoteLen    = 64
)

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// audited reports whether a path is part of the public API, whose calls are
// audited (health checks, docs, reflection and worker heartbeats are not).
func audited(path string) bool {
	return strings.HasPrefix(path, "/item/") || strings.HasPrefix(path, "/"+auctionv1connect.AuctionServiceName+"/")
}

// protocolOf names how a call arrived.
func protocolOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/item/") {
		return protoREST
	}
	ct := strings.ToLower(r.Header.Get("Content-Type")) // as Connect reads it
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return protoGRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return protoGRPC
	}
	return protoConnect
}

// routeOf is the REST route template or the RPC procedure of a call. It is
// a metric label, so it takes only known values: an unknown path is
// "unknown" and an unusual method "OTHER" (a client must not be able to
// mint label values, or send one that is not UTF-8).
func routeOf(r *http.Request) string {
	p := r.URL.Path
	route, known := apiRouteOf(p)
	if !known {
		return "unknown"
	}
	if !route.rest {
		return p
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	if strings.HasPrefix(p, "/item/fetch/") {
		return method + " /item/fetch/{id}"
	}
	return method + " " + p
}
