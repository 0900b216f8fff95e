package ports

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/pawnshop/auction/openapi"
	"github.com/pawnshop/auction/openapi/swaggerui"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerConfig bounds every call.
type HandlerConfig struct {
	// MaxBodyBytes caps request bodies, after decompression (REST and
	// Connect: 413; gRPC and gRPC-Web: resource_exhausted).
	MaxBodyBytes int64
	// RequestTimeout is the deadline of every call.
	RequestTimeout time.Duration
	// Edge is admission control, rate limit and CORS.
	Edge EdgeConfig
	// Auth authenticates callers (required: a handler without one refuses
	// to be built). AuthNone says it lets everyone in (AUTH_MODE=none):
	// /readyz and every log line of the edge say so.
	Auth     Authenticator
	AuthNone bool
	// AllowUnknownFields ignores JSON fields a request does not have
	// (REJECT_UNKNOWN_FIELDS=false); by default they are refused with 400
	// naming them (jsondecode.go).
	AllowUnknownFields bool
}

// Readiness reports whether the dispatcher can serve, with details for /readyz.
type Readiness interface {
	Ready(ctx context.Context) (ready bool, detail map[string]any)
}

// NewHandler assembles the dispatcher's single HTTP handler: the edge
// (edge.go: request id, deadline, the call's audit record and trace span,
// security headers, CORS, routing, media types, body cap, rate limit,
// admission), then the routes. Every
// public RPC, whatever its protocol, runs the one pipeline of interceptors
// (pipeline.go); REST reaches it through the transcoder (wire.go).
func NewHandler(cfg HandlerConfig, auction *AuctionHandler,
	validator protovalidate.Validator, ready Readiness, auditor Auditor, metrics *Metrics, gatherer prometheus.Gatherer, log *slog.Logger) (http.Handler, error) {
	if cfg.Auth == nil {
		return nil, errors.New("ports: no authenticator (AUTH_MODE=none is an authenticator that lets everyone in)")
	}
	if cfg.AuthNone {
		log = log.With("auth", "none: AUTH_MODE=none, the API is open to anyone")
	}
	dec := jsonDecoder{allowUnknown: cfg.AllowUnknownFields}
	chain := newPipeline(validator, log, authInterceptor{authn: cfg.Auth, log: log})
	opts := append([]connect.HandlerOption{
		connect.WithInterceptors(chain...),
		connect.WithReadMaxBytes(int(cfg.MaxBodyBytes)),
	}, connectCodecOptions(cfg.MaxBodyBytes, dec)...)
	mux := http.NewServeMux()
	// Procedures are registered one by one, so that any other path falls
	// through to the JSON 404. The workers' MembershipService is not here:
	// it has its own listener (NewClusterHandler).
	_, auctionH := auctionv1connect.NewAuctionServiceHandler(auction, opts...)
	auctionH = withChallenge(auctionH)
	for p := range connectProcedures {
		mux.Handle(p, auctionH)
	}

	rest, err := newRESTHandler(auction, chain, dec, log)
	if err != nil {
		return nil, err
	}
	mux.Handle("/item/", rest)

	checker := grpchealth.NewStaticChecker(auctionv1connect.AuctionServiceName)
	healthPrefix, health := grpchealth.NewHandler(checker, connectCodecOptions(cfg.MaxBodyBytes, dec)...)
	mux.Handle(healthPrefix+"Check", health)
	mux.Handle(healthPrefix+"Watch", health)
	reflector := grpcreflect.NewStaticReflector(auctionv1connect.AuctionServiceName)
	for _, h := range []func(*grpcreflect.Reflector, ...connect.HandlerOption) (string, http.Handler){grpcreflect.NewHandlerV1, grpcreflect.NewHandlerV1Alpha} {
		prefix, handler := h(reflector, connectCodecOptions(cfg.MaxBodyBytes, dec)...)
		mux.Handle(prefix+"ServerReflectionInfo", handler)
	}

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	// /readyz answers everyone with its status; its details (workers and
	// their addresses, list versions, counters) only an operator (admin).
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, detail := ready.Ready(r.Context())
		if p, err := principalOf(cfg.Auth, r); err != nil || !p.Has(readyDetailsScope) {
			detail = map[string]any{}
		}
		code := http.StatusOK
		detail["status"] = "ready"
		if !ok {
			code = http.StatusServiceUnavailable
			detail["status"] = "not ready"
		}
		if cfg.AuthNone {
			detail["auth"] = "none"
		}
		writeJSON(w, code, detail)
	})
	mux.Handle("GET /metrics", requireScope(cfg.Auth, metricsScope, log, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Document)
	})
	// Swagger UI on /openapi.json, from assets embedded in the binary.
	mux.Handle(swaggerui.Prefix, swaggerui.Handler())
	mux.Handle("GET /docs", http.RedirectHandler(swaggerui.Prefix, http.StatusMovedPermanently))
	mux.Handle("/", fallback(mux, log))

	return newEdge(mux, cfg, metrics, &observer{auditor: auditor, metrics: metrics}, log), nil
}

// fallback answers what no route took: GET / goes to the docs, a known path
// with another method gets 405 + Allow, anything else a JSON 404.
func fallback(mux *http.ServeMux, log *slog.Logger) http.Handler {
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
			writeError(r.Context(), log, w, r, true, refuse(errMethod, "this route takes %s only", strings.Join(allowed, ", ")))
			return
		}
		writeError(r.Context(), log, w, r, true, refuse(errNoRoute, msgNoRoute))
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
