package ports

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
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
	// MaxBodyBytes caps request bodies, after decompression (REST: 413;
	// Connect and gRPC: resource_exhausted).
	MaxBodyBytes int64
	// RequestTimeout is the deadline of every call.
	RequestTimeout time.Duration
	// Edge is admission control, rate limit and CORS.
	Edge EdgeConfig
}

// Readiness reports whether the dispatcher can serve, with details for /readyz.
type Readiness interface {
	Ready(ctx context.Context) (ready bool, detail map[string]any)
}

// NewHandler assembles the dispatcher's single HTTP handler. From the
// outside in: request id and deadline, tracing, audit, the edge (headers,
// CORS, routing, media types, rate limit, admission), then the routes.
func NewHandler(cfg HandlerConfig, auction *AuctionHandler, membership *MembershipHandler,
	validator protovalidate.Validator, ready Readiness, auditor Auditor, metrics *Metrics, gatherer prometheus.Gatherer, log *slog.Logger) (http.Handler, error) {
	// The code interceptor is outermost so that it sees validation failures.
	interceptors := []connect.Interceptor{codeInterceptor{}, validateInterceptor{v: validator, log: log}}
	opts := append([]connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(int(cfg.MaxBodyBytes)),
	}, connectCodecOptions(cfg.MaxBodyBytes)...)
	mux := http.NewServeMux()
	// Procedures are registered one by one, so that any other path falls
	// through to the JSON 404.
	_, auctionH := auctionv1connect.NewAuctionServiceHandler(auction, opts...)
	_, membershipH := clusterv1connect.NewMembershipServiceHandler(membership, opts...)
	for p := range connectProcedures {
		if strings.HasPrefix(p, "/"+clusterv1connect.MembershipServiceName+"/") {
			mux.Handle(p, membershipH)
		} else {
			mux.Handle(p, auctionH)
		}
	}

	rest, err := newRESTHandler(auction, interceptors, cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	mux.Handle("/item/", rest)

	checker := grpchealth.NewStaticChecker(auctionv1connect.AuctionServiceName, clusterv1connect.MembershipServiceName)
	healthPrefix, health := grpchealth.NewHandler(checker, connectCodecOptions(cfg.MaxBodyBytes)...)
	mux.Handle(healthPrefix+"Check", health)
	mux.Handle(healthPrefix+"Watch", health)
	reflector := grpcreflect.NewStaticReflector(auctionv1connect.AuctionServiceName, clusterv1connect.MembershipServiceName)
	for _, h := range []func(*grpcreflect.Reflector, ...connect.HandlerOption) (string, http.Handler){grpcreflect.NewHandlerV1, grpcreflect.NewHandlerV1Alpha} {
		prefix, handler := h(reflector, connectCodecOptions(cfg.MaxBodyBytes)...)
		mux.Handle(prefix+"ServerReflectionInfo", handler)
	}

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
	mux.Handle("/", fallback(mux))

	guarded := newEdge(mux, cfg.Edge, cfg.MaxBodyBytes, metrics)
	traced := otelhttp.NewHandler(withAudit(guarded, auditor, metrics), "dispatcher",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return routeOf(r) }),
		otelhttp.WithFilter(func(r *http.Request) bool { return audited(r.URL.Path) }))
	return withRequestContext(traced, cfg.RequestTimeout), nil
}

// fallback answers what no route took: GET / goes to the docs, a known path
// with another method gets 405 + Allow, anything else a JSON 404.
func fallback(mux *http.ServeMux) http.Handler {
	probe := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, swaggerui.Prefix, http.StatusFound)
			return
		}
		var allowed []string
		for _, m := range probe {
			pr := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
			if _, pattern := mux.Handler(pr); pattern != "/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			if slices.Contains(allowed, http.MethodGet) {
				allowed = append(allowed, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeErrorBody(w, http.StatusMethodNotAllowed, connect.CodeUnimplemented, "this route takes "+strings.Join(allowed, ", ")+" only")
			return
		}
		writeErrorBody(w, http.StatusNotFound, connect.CodeNotFound, msgNoRoute)
	})
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
