package ports

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	connectvalidate "connectrpc.com/validate"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/openapi"
	"github.com/pawnshop/auction/openapi/swaggerui"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// HandlerConfig bounds every call.
type HandlerConfig struct {
	// MaxBodyBytes caps request bodies (REST: 413; Connect and gRPC:
	// resource_exhausted).
	MaxBodyBytes int64
	// RequestTimeout is the deadline of every call.
	RequestTimeout time.Duration
}

// Readiness reports whether the dispatcher can serve, with details for /readyz.
type Readiness interface {
	Ready(ctx context.Context) (ready bool, detail map[string]any)
}

// NewHandler assembles the dispatcher's single HTTP handler.
func NewHandler(cfg HandlerConfig, auction *AuctionHandler, membership *MembershipHandler,
	validator protovalidate.Validator, ready Readiness, auditor Auditor, metrics *Metrics, gatherer prometheus.Gatherer, log *slog.Logger) (http.Handler, error) {
	// The code interceptor is outermost so that it sees validation failures.
	interceptors := []connect.Interceptor{codeInterceptor{}, connectvalidate.NewInterceptor(connectvalidate.WithValidator(validator))}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(int(cfg.MaxBodyBytes)),
	}
	mux := http.NewServeMux()
	mux.Handle(auctionv1connect.NewAuctionServiceHandler(auction, opts...))
	mux.Handle(clusterv1connect.NewMembershipServiceHandler(membership, opts...))

	rest, err := newRESTHandler(auction, interceptors, cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	mux.Handle("/item/", rest)

	checker := grpchealth.NewStaticChecker(auctionv1connect.AuctionServiceName, clusterv1connect.MembershipServiceName)
	mux.Handle(grpchealth.NewHandler(checker))
	reflector := grpcreflect.NewStaticReflector(auctionv1connect.AuctionServiceName, clusterv1connect.MembershipServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, detail := ready.Ready(r.Context())
		code := http.StatusOK
		detail["status"] = "ready"
		if !ok {
			code = http.StatusServiceUnavailable
			detail["status"] = "not ready"
		}
		writeJSON(w, code, detail)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Document)
	})
	// Swagger UI on /openapi.json, from assets embedded in the binary.
	mux.Handle(swaggerui.Prefix, swaggerui.Handler())
	mux.Handle("GET /docs", http.RedirectHandler(swaggerui.Prefix, http.StatusMovedPermanently))
	traced := otelhttp.NewHandler(withAudit(mux, auditor, metrics), "dispatcher",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return routeOf(r) }),
		otelhttp.WithFilter(func(r *http.Request) bool { return audited(r.URL.Path) }))
	return withRequestContext(traced, cfg.RequestTimeout), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// withRequestContext gives every call a request id (the client's X-Request-Id
// when it is well-formed, else a new one, echoed in the response), a call
// note for the audit record, and a deadline.
func withRequestContext(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		ctx := requestid.NewContext(r.Context(), id)
		ctx = withNote(ctx, &callNote{})
		if !isStream(r) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isStream reports calls that may legitimately outlive the request deadline:
// reflection is a bidirectional stream that grpcurl keeps open.
func isStream(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/grpc.reflection.")
}
