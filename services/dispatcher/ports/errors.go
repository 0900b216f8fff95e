// Package ports exposes the dispatcher's use cases: the public AuctionService
// over Connect, gRPC, gRPC-Web and REST (grpc-gateway, in-process), the
// MembershipService for workers, health and reflection, all on one handler.
//
// A call crosses two stages: the HTTP edge (edge.go: request id, deadline,
// routing, media types, body cap, rate limit, admission) and the RPC
// pipeline (pipeline.go: one chain of Connect interceptors that every
// protocol goes through, REST included via the transcoder in wire.go).
// This file is where every error becomes what a client sees.
package ports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The edge's own refusals: calls answered before any handler runs. They
// are rows of errorTable like the use cases' errors; refuse gives each its
// client-facing message.
var (
	errNoRoute       = errors.New("no such route")
	errMethod        = errors.New("method not allowed")
	errMediaType     = errors.New("unsupported media type")
	errNotUTF8       = errors.New("path or query not UTF-8")
	errOrigin        = errors.New("origin not allowed")
	errBodyTooLarge  = errors.New("request body too large")
	errBodyTimeout   = errors.New("request body too slow")
	errBodyUnread    = errors.New("request body unreadable")
	errRateLimited   = errors.New("rate limited")
	errOverloaded    = errors.New("overloaded")
	errGatewayReject = errors.New("bad request") // the REST transcoder refused the path, query or body
	// The auth step's refusals (authn.go, policy.go).
	errUnauthenticated = errors.New("unauthenticated")
	errForbidden       = errors.New("permission denied")
	errAuthUnavailable = errors.New("authentication unavailable")
)

// errorTable is the one place where errors become API answers: the use
// cases' errors (a worker's errors arrive translated into them by the
// workerconnect adapter) and the edge's refusals. A row gives the Connect
// code; status, when set, is the HTTP status written on every protocol
// instead of the protocol's own for the code (a call the edge refuses may
// not be a well-formed call of any protocol); level is how loudly the
// wrapped cause is logged (clients never see it).
var errorTable = []struct {
	target error
	code   connect.Code
	status int
	level  slog.Level
}{
	{app.ErrNotFound, connect.CodeNotFound, 0, slog.LevelDebug},
	{app.ErrBadPageToken, connect.CodeInvalidArgument, 0, slog.LevelDebug},
	{app.ErrInvalid, connect.CodeInvalidArgument, 0, slog.LevelDebug},
	{app.ErrWorkerAnswerTooLarge, connect.CodeInternal, 0, slog.LevelError},
	{app.ErrWorkerFailed, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrNoWorkers, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrWorkerUnavailable, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrWorkerSlow, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrPublishUnavailable, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrClaimUnavailable, connect.CodeUnavailable, 0, slog.LevelWarn},
	{app.ErrAlreadyExists, connect.CodeAlreadyExists, 0, slog.LevelDebug},
	{app.ErrFraudulentClient, connect.CodePermissionDenied, 0, slog.LevelDebug},
	{domain.ErrBadToken, connect.CodePermissionDenied, 0, slog.LevelDebug},
	{app.ErrUnknownWorker, connect.CodeNotFound, 0, slog.LevelDebug},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded, 0, slog.LevelDebug},
	{context.Canceled, connect.CodeCanceled, 0, slog.LevelDebug},

	{errNoRoute, connect.CodeNotFound, http.StatusNotFound, slog.LevelDebug},
	{errMethod, connect.CodeUnimplemented, http.StatusMethodNotAllowed, slog.LevelDebug},
	{errMediaType, connect.CodeInvalidArgument, http.StatusUnsupportedMediaType, slog.LevelDebug},
	{errNotUTF8, connect.CodeInvalidArgument, 0, slog.LevelDebug},
	{errOrigin, connect.CodePermissionDenied, http.StatusForbidden, slog.LevelDebug},
	{errBodyTooLarge, connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge, slog.LevelDebug},
	{errBodyTimeout, connect.CodeDeadlineExceeded, http.StatusRequestTimeout, slog.LevelDebug},
	{errBodyUnread, connect.CodeInvalidArgument, 0, slog.LevelDebug},
	{errRateLimited, connect.CodeResourceExhausted, 0, slog.LevelDebug},
	{errOverloaded, connect.CodeUnavailable, 0, slog.LevelDebug},
	{errGatewayReject, connect.CodeInvalidArgument, 0, slog.LevelDebug},
	{errUnauthenticated, connect.CodeUnauthenticated, 0, slog.LevelDebug},
	{errForbidden, connect.CodePermissionDenied, 0, slog.LevelDebug},
	{errAuthUnavailable, connect.CodeUnavailable, 0, slog.LevelWarn},
}

// Messages of errors that carry no message of their own for clients.
var publicMessages = map[error]string{
	context.DeadlineExceeded: "the request took longer than its deadline",
	context.Canceled:         "the request was canceled",
}

// msgNoRoute answers unknown routes; it does not echo the path.
const msgNoRoute = "no such route; the API's routes are listed in /openapi.json"

// refusal is an edge refusal with the message the client reads.
type refusal struct {
	kind error // a row of errorTable
	msg  string
}

func (r *refusal) Error() string         { return r.msg }
func (r *refusal) ClientMessage() string { return r.msg }
func (r *refusal) Unwrap() error         { return r.kind }

// clientMessage is an error that carries its own message for clients (an
// edge refusal, app.ItemNotFoundError); other errors show clients only
// their row's target message.
type clientMessage interface{ ClientMessage() string }

// refuse returns the edge refusal kind with a message for the client.
func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// toConnectError maps err to the *connect.Error a client sees and the HTTP
// status to write on REST and Connect (0: the protocol's own for the code).
// Errors already in the API's terms pass as they are: a *connect.Error
// itself (never one wrapped in a use case's error: a worker's message, an
// address, must not pass through), which comes from the validation
// interceptor, the codecs, or back from the pipeline through the REST
// transcoder. A use case's error gets the row's code and the target's own
// message (or its ClientMessage), the wrapped cause is logged with the
// request id; an edge refusal its message. Anything else is Internal with a generic message.
func toConnectError(ctx context.Context, log *slog.Logger, err error) (*connect.Error, int) {
	if cerr, ok := err.(*connect.Error); ok {
		return cerr, 0
	}
	if st, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		err = gatewayError(st.GRPCStatus())
	}
	for _, row := range errorTable {
		if !errors.Is(err, row.target) {
			continue
		}
		log.Log(ctx, row.level, "request failed", "code", row.code.String(), "err", err)
		msg := row.target.Error()
		var own clientMessage
		if errors.As(err, &own) {
			msg = own.ClientMessage()
		} else if m, ok := publicMessages[row.target]; ok {
			msg = m
		}
		return connect.NewError(row.code, errors.New(msg)), row.status
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error")), 0
}

// errorWriter writes errors in the protocol of each call.
var errorWriter = connect.NewErrorWriter()

// writeError is the one writer of error answers, at the edge and on REST:
// the Connect JSON error body (with status, or Connect's own status for the
// code), or a gRPC status on gRPC and gRPC-Web when the error has no status
// of its own. REST answers JSON whatever the client sent as Content-Type.
// It returns the code and the HTTP status written, for the audit record.
func writeError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, r *http.Request, rest bool, err error) (connect.Code, int) {
	cerr, status := toConnectError(ctx, log, err)
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{cerr.Code().String(), cerr.Message()})
		return cerr.Code(), status
	}
	protocol := protocolOf(r)
	if rest {
		r = jsonRequest
	}
	_ = errorWriter.Write(w, r, cerr)
	return cerr.Code(), httpStatusOf(protocol, cerr.Code())
}

// jsonRequest makes a connect.ErrorWriter answer in the Connect JSON format.
var jsonRequest = &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}}

// connectStatus is Connect's HTTP status of each code, read once from
// connect.ErrorWriter itself rather than copied into a table of ours.
var connectStatus = func() map[connect.Code]int {
	m := map[connect.Code]int{}
	for c := connect.CodeCanceled; c <= connect.CodeUnauthenticated; c++ {
		w := newBufferedResponse()
		_ = errorWriter.Write(w, jsonRequest, connect.NewError(c, nil))
		m[c] = w.status
	}
	return m
}()

// httpStatusOf is the HTTP status of an error answer with code: gRPC and
// gRPC-Web carry errors in their status with HTTP 200.
func httpStatusOf(protocol string, code connect.Code) int {
	if protocol == protoGRPC || protocol == protoGRPCWeb {
		return http.StatusOK
	}
	if s, ok := connectStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// outcomeOnWire reads the outcome of an answer written before the pipeline
// ran (Connect's own errors: a body that does not decode, is over the cap,
// came too slowly; the transcoder's): the gRPC status of gRPC and gRPC-Web,
// else the code of the Connect JSON error body. It reads the code written;
// it maps nothing.
func outcomeOnWire(status int, header http.Header, body []byte) string {
	gs := header.Get("Grpc-Status")
	if gs == "" {
		gs = header.Get(http.TrailerPrefix + "Grpc-Status") // after a flushed header
	}
	if gs != "" {
		n, err := strconv.Atoi(gs)
		switch {
		case err != nil || n < 0 || n > int(connect.CodeUnauthenticated):
			return connect.CodeUnknown.String()
		case n == 0:
			return outcomeOK
		}
		return connect.Code(n).String()
	}
	if status < 400 {
		return outcomeOK
	}
	var c connect.Code
	var e struct{ Code string }
	if json.Unmarshal(body, &e) == nil && c.UnmarshalText([]byte(e.Code)) == nil {
		return c.String()
	}
	return connect.CodeUnknown.String()
}

// gatewayError converts the REST transcoder's own errors (a malformed JSON
// body, a bad path or query parameter), which are gRPC statuses, to a
// refusal whose message speaks of the request, not of the gateway.
func gatewayError(st *status.Status) error {
	if st.Code() != codes.InvalidArgument {
		// The gateway raises no other code by itself.
		return fmt.Errorf("REST transcoder: %s", st.Message())
	}
	return refuse(errGatewayReject, "%s", gatewayProblem(st.Message()))
}

// queryFieldError matches the gateway's query parameter errors, which name
// the proto field and quote Go's parse errors.
var queryFieldError = regexp.MustCompile(`^(?:parsing (?:field|list|map key|map value)|too many values for field|field already set for oneof|field) "([A-Za-z0-9_]+)"`)

// gatewayProblem rewrites a message of the gateway's own InvalidArgument
// errors: decode errors are already in the client's terms (decodeError),
// query parameter errors name the parameter by its JSON name.
func gatewayProblem(msg string) string {
	if strings.HasPrefix(msg, "the request body ") {
		return msg
	}
	if m := queryFieldError.FindStringSubmatch(msg); m != nil {
		name := jsonName(m[1])
		switch {
		case strings.HasPrefix(msg, "too many values"):
			return fmt.Sprintf("query parameter %s is given more than once", name)
		case strings.HasPrefix(msg, "field already set for oneof"):
			return fmt.Sprintf("give only one of the %s parameters (name, category, state)", name)
		}
		return fmt.Sprintf("query parameter %s has an invalid value", name)
	}
	return "the request is invalid (path, query string or headers)"
}
