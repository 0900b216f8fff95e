package ports

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/requestid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Auditor takes the audit record of each finished call. It must not block.
type Auditor interface {
	Record(*eventsv1.AuditRecord)
}

// codeInterceptor notes the outcome of every call that reaches a handler,
// on every protocol (REST calls run through it too), for the audit record.
type codeInterceptor struct{}

func (codeInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		code := "ok"
		if err != nil {
			code = connect.CodeOf(err).String()
		}
		if n, ok := ctx.Value(noteKey{}).(*callNote); ok {
			n.mu.Lock()
			n.code = code
			n.mu.Unlock()
		}
		return res, err
	}
}

func (codeInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (codeInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// audited reports whether a path is part of the public API, whose calls are
// audited (health checks, docs, reflection and worker heartbeats are not).
func audited(path string) bool {
	return strings.HasPrefix(path, "/item/") || strings.HasPrefix(path, "/"+auctionv1connect.AuctionServiceName+"/")
}

// protocolOf names how a call arrived.
func protocolOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/item/") {
		return "rest"
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return "grpcweb"
	case strings.HasPrefix(ct, "application/grpc"):
		return "grpc"
	}
	return "connect"
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

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming protocols working through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// codeFromHTTP derives a Connect code for calls that failed before reaching
// a handler (malformed JSON, oversized body, unknown route).
func codeFromHTTP(status int) string {
	switch status {
	case http.StatusOK, http.StatusAccepted:
		return "ok"
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument.String()
	case http.StatusForbidden:
		return connect.CodePermissionDenied.String()
	case http.StatusNotFound:
		return connect.CodeNotFound.String()
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted.String()
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable.String()
	case http.StatusGatewayTimeout:
		return connect.CodeDeadlineExceeded.String()
	case http.StatusNotImplemented:
		return connect.CodeUnimplemented.String()
	}
	return connect.CodeUnknown.String()
}

// withAudit ends every public API call with an audit record and its metrics.
func withAudit(next http.Handler, auditor Auditor, metrics *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !audited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		n, _ := r.Context().Value(noteKey{}).(*callNote)
		var clientID, eventID, code string
		if n != nil {
			n.mu.Lock()
			clientID, eventID, code = n.clientID, n.eventID, n.code
			n.mu.Unlock()
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if code == "" {
			code = codeFromHTTP(status)
			if gs := w.Header().Get("Grpc-Status"); gs != "" {
				if c, err := strconv.Atoi(gs); err == nil && c > 0 {
					code = connect.Code(c).String()
				}
			}
		}
		route, protocol, latency := routeOf(r), protocolOf(r), time.Since(start)
		metrics.requests.WithLabelValues(route, protocol, code).Inc()
		metrics.duration.WithLabelValues(route, protocol).Observe(latency.Seconds())
		auditor.Record(&eventsv1.AuditRecord{
			Route:      route,
			Protocol:   protocol,
			Status:     code,
			HttpStatus: int32(status),
			Latency:    durationpb.New(latency),
			RequestId:  requestid.FromContext(r.Context()),
			ClientId:   clientID,
			EventId:    eventID,
			Time:       timestamppb.New(time.Now().Truncate(time.Millisecond)),
		})
	})
}
