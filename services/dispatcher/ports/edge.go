package ports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/openapi/swaggerui"
)

// EdgeConfig is what the public edge lets through, identically on REST,
// Connect, gRPC and gRPC-Web. Zero values turn a protection off.
type EdgeConfig struct {
	// MaxInflightReads and MaxInflightWrites cap the calls of each class
	// running at once; QueueReads and QueueWrites calls may wait up to
	// QueueWait for a slot; beyond, 503 + Retry-After at once.
	MaxInflightReads, MaxInflightWrites int
	QueueReads, QueueWrites             int
	QueueWait                           time.Duration
	// RatePerClient calls per second (burst RateBurst) per client address;
	// beyond, 429 + Retry-After. ClientIPHeader names a trusted proxy's
	// header naming the client; empty means the connection's address.
	RatePerClient  float64
	RateBurst      int
	ClientIPHeader string
	// CORSOrigins may call the API from a browser ("*": any); empty: CORS off.
	CORSOrigins []string
}

// routeClass is what admission control counts a call against.
type routeClass int

const (
	classNone routeClass = iota
	classRead
	classWrite
)

func (c routeClass) String() string {
	switch c {
	case classRead:
		return "read"
	case classWrite:
		return "write"
	}
	return "none"
}

// apiRoute is one route of the public API: its allowed method, its class,
// and whether it is REST (else Connect, gRPC or gRPC-Web).
type apiRoute struct {
	method string
	class  routeClass
	rest   bool
}

// connectProcedures are the public RPCs by path.
var connectProcedures = map[string]routeClass{
	auctionv1connect.AuctionServiceAddItemProcedure:   classWrite,
	auctionv1connect.AuctionServiceBuyItemProcedure:   classWrite,
	auctionv1connect.AuctionServiceSellItemProcedure:  classWrite,
	auctionv1connect.AuctionServicePawnItemProcedure:  classWrite,
	auctionv1connect.AuctionServiceGetItemProcedure:   classRead,
	auctionv1connect.AuctionServiceListItemsProcedure: classRead,
	// Workers' calls: routed and typed like the rest, never shed or
	// rate-limited (a refused heartbeat would evict a healthy worker).
	clusterv1connect.MembershipServiceJoinProcedure:      classNone,
	clusterv1connect.MembershipServiceHeartbeatProcedure: classNone,
	clusterv1connect.MembershipServiceLeaveProcedure:     classNone,
}

// restRoutes are the REST routes by path (GET /item/fetch/{id} aside).
var restRoutes = map[string]apiRoute{
	"/item/add":         {http.MethodPost, classWrite, true},
	"/item/action/buy":  {http.MethodPost, classWrite, true},
	"/item/action/sell": {http.MethodPost, classWrite, true},
	"/item/action/pawn": {http.MethodPost, classWrite, true},
	"/item/fetch":       {http.MethodGet, classRead, true},
}

// isAPIPath reports the paths of the public API and of the membership
// service, known routes or not.
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/item/") || p == "/item" || strings.HasPrefix(p, "/"+auctionv1connect.AuctionServiceName+"/") ||
		strings.HasPrefix(p, "/"+clusterv1connect.MembershipServiceName+"/")
}

// apiRouteOf finds the route of an API path.
func apiRouteOf(p string) (apiRoute, bool) {
	if r, ok := restRoutes[p]; ok {
		return r, true
	}
	if id, ok := strings.CutPrefix(p, "/item/fetch/"); ok && id != "" && !strings.Contains(id, "/") {
		return apiRoute{http.MethodGet, classRead, true}, true
	}
	if c, ok := connectProcedures[p]; ok {
		return apiRoute{http.MethodPost, c, false}, true
	}
	return apiRoute{}, false
}

// connectContentTypes are the request media types of Connect unary, gRPC
// and gRPC-Web with the proto and JSON codecs.
var connectContentTypes = []string{
	"application/json", "application/proto",
	"application/grpc", "application/grpc+proto", "application/grpc+json",
	"application/grpc-web", "application/grpc-web+proto", "application/grpc-web+json",
}

// CORS lists, as connectrpc.com/cors recommends for Connect, gRPC-Web and REST.
var (
	corsAllowHeaders  = "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Connect-Accept-Encoding, Connect-Content-Encoding, Grpc-Timeout, X-Grpc-Web, X-User-Agent, X-Request-Id"
	corsExposeHeaders = "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, X-Request-Id, Retry-After"
)

// edge guards the public API before any handler runs: security headers,
// CORS, routing (JSON 404, 405 + Allow), accepted media types (415), the
// raw body cap, the per-client rate limit (429) and admission control per
// route class (503). Everything it refuses is still audited (it runs inside
// withAudit) and carries the Connect error body (or gRPC status).
type edge struct {
	next      http.Handler
	maxBody   int64
	reads     *limiter
	writes    *limiter
	rate      *rateLimiter
	ipHeader  string
	origins   []string
	anyOrigin bool
	errWriter *connect.ErrorWriter
	metrics   *Metrics
}

func newEdge(next http.Handler, cfg EdgeConfig, maxBody int64, metrics *Metrics) *edge {
	e := &edge{
		next:    next,
		maxBody: maxBody,
		reads: newLimiter(cfg.MaxInflightReads, cfg.QueueReads, cfg.QueueWait,
			metrics.inflight.WithLabelValues(classRead.String()), metrics.queued.WithLabelValues(classRead.String())),
		writes: newLimiter(cfg.MaxInflightWrites, cfg.QueueWrites, cfg.QueueWait,
			metrics.inflight.WithLabelValues(classWrite.String()), metrics.queued.WithLabelValues(classWrite.String())),
		rate:      newRateLimiter(cfg.RatePerClient, cfg.RateBurst),
		ipHeader:  cfg.ClientIPHeader,
		errWriter: connect.NewErrorWriter(),
		metrics:   metrics,
	}
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			e.anyOrigin = true
		}
		e.origins = append(e.origins, strings.ToLower(o))
	}
	return e
}

// cacheable reports the responses a browser may keep: the docs and the
// OpenAPI document. Every other answer (API, health, metrics) is live.
func cacheable(p string) bool {
	return strings.HasPrefix(p, swaggerui.Prefix) || p == "/openapi.json"
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !cacheable(r.URL.Path) {
		h.Set("Cache-Control", "no-store")
	}
	if !isAPIPath(r.URL.Path) {
		e.next.ServeHTTP(w, r)
		return
	}
	route, known := apiRouteOf(r.URL.Path)
	origin := r.Header.Get("Origin")
	corsOK := origin != "" && e.originAllowed(origin)
	if corsOK {
		e.allowOrigin(h, origin)
	}
	if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" && len(e.origins) > 0 {
		e.preflight(w, r, route, known, corsOK)
		return
	}
	if !known {
		e.refuse(w, r, http.StatusNotFound, connect.CodeNotFound, msgNoRoute)
		return
	}
	if r.Method != route.method {
		h.Set("Allow", route.method)
		e.refuse(w, r, http.StatusMethodNotAllowed, connect.CodeUnimplemented,
			fmt.Sprintf("this route takes %s only", route.method))
		return
	}
	if msg := e.unsupportedMedia(r, route); msg != "" {
		if route.rest {
			h.Set("Accept-Post", "application/json")
		} else {
			h.Set("Accept-Post", strings.Join(connectContentTypes, ", "))
		}
		e.refuse(w, r, http.StatusUnsupportedMediaType, connect.CodeInvalidArgument, msg)
		return
	}
	if r.Body != nil && r.Body != http.NoBody && e.maxBody > 0 {
		// The raw body may exceed the decoded cap by the gRPC envelope
		// (5 bytes); more is refused without being read to its end.
		r.Body = http.MaxBytesReader(w, r.Body, e.maxBody+1024)
	}
	if route.class == classNone {
		e.next.ServeHTTP(w, r)
		return
	}
	if ok, wait := e.rate.allow(clientKey(r, e.ipHeader)); !ok {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
		e.metrics.refused.WithLabelValues(route.class.String(), "rate_limit").Inc()
		e.writeError(w, r, route, connect.NewError(connect.CodeResourceExhausted,
			errors.New("too many requests from this client; retry after the time in Retry-After")))
		return
	}
	lim := e.reads
	if route.class == classWrite {
		lim = e.writes
	}
	if !lim.acquire(r.Context()) {
		h.Set("Retry-After", "1")
		e.metrics.refused.WithLabelValues(route.class.String(), "overload").Inc()
		e.writeError(w, r, route, connect.NewError(connect.CodeUnavailable,
			fmt.Errorf("the server is busy with other %ss; retry after the time in Retry-After", route.class)))
		return
	}
	defer lim.release()
	e.next.ServeHTTP(w, r)
}

// unsupportedMedia says why a call's body cannot be taken ("" if it can):
// REST takes JSON only (any other type, even none, is what a cross-site
// form or fetch can send without a CORS preflight) and no compression;
// Connect, gRPC and gRPC-Web take their own types.
func (e *edge) unsupportedMedia(r *http.Request, route apiRoute) string {
	if r.Method != http.MethodPost {
		return ""
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	if route.rest {
		if mt != "application/json" {
			return "the request body must be JSON sent with Content-Type: application/json"
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return "JSON request bodies must be UTF-8"
		}
		if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			return "compressed request bodies are not accepted on REST; send plain JSON"
		}
		return ""
	}
	if !slices.Contains(connectContentTypes, mt) {
		return "unsupported Content-Type; use one of " + strings.Join(connectContentTypes, ", ")
	}
	if ce := strings.ToLower(r.Header.Get("Content-Encoding")); ce != "" && ce != "identity" && ce != "gzip" {
		return "unsupported Content-Encoding; use gzip or none"
	}
	return ""
}

// msgNoRoute answers unknown routes; it does not echo the path.
const msgNoRoute = "no such route; the API's routes are listed in /openapi.json"

func (e *edge) originAllowed(origin string) bool {
	return e.anyOrigin || slices.Contains(e.origins, strings.ToLower(origin))
}

func (e *edge) allowOrigin(h http.Header, origin string) {
	if e.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// preflight answers a CORS preflight when CORS is on: 204 with what the
// route allows for an allowed origin, 403 for another origin.
func (e *edge) preflight(w http.ResponseWriter, r *http.Request, route apiRoute, known, corsOK bool) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !corsOK {
		e.refuse(w, r, http.StatusForbidden, connect.CodePermissionDenied, "this origin may not call the API from a browser")
		return
	}
	if !known {
		e.refuse(w, r, http.StatusNotFound, connect.CodeNotFound, msgNoRoute)
		return
	}
	h.Set("Access-Control-Allow-Methods", route.method)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
}

// writeError writes err as the protocol of the call expects: the Connect
// JSON error body on REST and Connect, a gRPC status on gRPC and gRPC-Web.
func (e *edge) writeError(w http.ResponseWriter, r *http.Request, route apiRoute, err *connect.Error) {
	noteCode(r.Context(), err.Code())
	if route.rest {
		// REST answers JSON whatever the client sent as Content-Type.
		r = jsonRequest
	}
	_ = e.errWriter.Write(w, r, err)
}

// refuse answers a call that matches no handler with an HTTP status that
// has no Connect code of its own (404, 405, 415, 403) and the Connect JSON
// error body.
func (e *edge) refuse(w http.ResponseWriter, r *http.Request, status int, code connect.Code, msg string) {
	noteCode(r.Context(), code)
	writeErrorBody(w, status, code, msg)
}

// writeErrorBody writes the Connect JSON error body with any status.
func writeErrorBody(w http.ResponseWriter, status int, code connect.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code.String(), msg})
}
