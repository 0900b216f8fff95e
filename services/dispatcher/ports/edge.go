package ports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/openapi/swaggerui"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
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
}

// restRoutes are the REST routes by path (GET /item/fetch/{id} aside).
var restRoutes = map[string]apiRoute{
	"/item/add":         {http.MethodPost, classWrite, true},
	"/item/action/buy":  {http.MethodPost, classWrite, true},
	"/item/action/sell": {http.MethodPost, classWrite, true},
	"/item/action/pawn": {http.MethodPost, classWrite, true},
	"/item/fetch":       {http.MethodGet, classRead, true},
}

// isAPIPath reports the paths of the public API, known routes or not.
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/item/") || p == "/item" || strings.HasPrefix(p, "/"+auctionv1connect.AuctionServiceName+"/")
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

// edge is the HTTP stage of every call, before it becomes an RPC: it gives
// the call a request id (the client's X-Request-Id when well-formed, else a
// new one, echoed in the response) and its deadline, sets the security
// headers, and, for the public API, begins the audited call and guards it:
// CORS, routing (JSON 404, 405 + Allow), accepted media types (415), the
// body cap (REST: 413, read here so that the transcoder never waits on a
// client), the per-client rate limit (429) and admission control per route
// class (503). Admission stays here rather than in the pipeline so that an
// overloaded dispatcher refuses a call before reading or decoding its body.
// Every refusal is written by writeError and ends the call's audit record
// here; a call that reaches the pipeline ends it there; one answered in
// between (a body that does not decode) is ended here from what was written.
type edge struct {
	next      http.Handler
	timeout   time.Duration
	maxBody   int64
	reads     *limiter
	writes    *limiter
	rate      *rateLimiter
	ipHeader  string
	origins   []string
	anyOrigin bool
	metrics   *Metrics
	obs       *observer
	tracer    trace.Tracer // the server span of each audited call (tracing.go)
	log       *slog.Logger
}

func newEdge(next http.Handler, cfg HandlerConfig, metrics *Metrics, obs *observer, log *slog.Logger) *edge {
	e := &edge{
		next:    next,
		timeout: cfg.RequestTimeout,
		maxBody: cfg.MaxBodyBytes,
		reads: newLimiter(cfg.Edge.MaxInflightReads, cfg.Edge.QueueReads, cfg.Edge.QueueWait,
			metrics.inflight.WithLabelValues(classRead.String()), metrics.queued.WithLabelValues(classRead.String())),
		writes: newLimiter(cfg.Edge.MaxInflightWrites, cfg.Edge.QueueWrites, cfg.Edge.QueueWait,
			metrics.inflight.WithLabelValues(classWrite.String()), metrics.queued.WithLabelValues(classWrite.String())),
		rate:     newRateLimiter(cfg.Edge.RatePerClient, cfg.Edge.RateBurst),
		ipHeader: cfg.Edge.ClientIPHeader,
		metrics:  metrics,
		obs:      obs,
		tracer:   otel.Tracer(tracerName),
		log:      log,
	}
	for _, o := range cfg.Edge.CORSOrigins {
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

// isStream reports calls that may legitimately outlive the request deadline:
// reflection is a bidirectional stream that grpcurl keeps open.
func isStream(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/grpc.reflection.")
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(requestid.Header)
	if !requestid.Valid(id) {
		id = requestid.New()
	}
	h := w.Header()
	h.Set(requestid.Header, id)
	h.Set("X-Content-Type-Options", "nosniff")
	if !cacheable(r.URL.Path) {
		h.Set("Cache-Control", "no-store")
	}
	ctx := requestid.NewContext(r.Context(), id)
	if !isStream(r) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	if !isAPIPath(r.URL.Path) {
		e.next.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	route, known := apiRouteOf(r.URL.Path)
	var c *call
	if audited(r.URL.Path) {
		c = e.obs.begin(r, id, clientAddr(r, e.ipHeader), route.class == classWrite)
		var span trace.Span
		ctx, span = startSpan(ctx, e.tracer, r, c.route)
		ctx = withCall(ctx, c)
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		defer func() {
			if rec.status == 0 {
				rec.status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			c.finish(outcomeOnWire(rec.status, rec.Header(), rec.body), rec.status, "", "")
			endSpan(span, rec.status)
		}()
	}
	e.guard(w, r.WithContext(ctx), c, route, known)
}

// guard lets the call through to the routes or refuses it.
func (e *edge) guard(w http.ResponseWriter, r *http.Request, c *call, route apiRoute, known bool) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	corsOK := origin != "" && e.originAllowed(origin)
	if corsOK {
		e.allowOrigin(h, origin)
	}
	if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" && len(e.origins) > 0 {
		e.preflight(w, r, c, route, known, corsOK)
		return
	}
	if !known {
		e.refuse(w, r, c, route, refuse(errNoRoute, msgNoRoute))
		return
	}
	if r.Method != route.method {
		h.Set("Allow", route.method)
		e.refuse(w, r, c, route, refuse(errMethod, "this route takes %s only", route.method))
		return
	}
	if msg := e.unsupportedMedia(r, route); msg != "" {
		if route.rest {
			h.Set("Accept-Post", "application/json")
		} else {
			h.Set("Accept-Post", strings.Join(connectContentTypes, ", "))
		}
		e.refuse(w, r, c, route, refuse(errMediaType, "%s", msg))
		return
	}
	if route.rest && !utf8URL(r.URL) {
		// Every string a REST call carries must be UTF-8, as a JSON body's
		// are: the transcoder could not hand it on as a protobuf message.
		e.refuse(w, r, c, route, refuse(errNotUTF8, "the path and query string must be UTF-8 once percent-decoded"))
		return
	}
	if r.Body != nil && r.Body != http.NoBody && e.maxBody > 0 {
		if route.rest {
			if err := e.readBody(w, r); err != nil {
				e.refuse(w, r, c, route, err)
				return
			}
		} else {
			// The raw body may exceed the decoded cap by the gRPC envelope
			// (5 bytes); more is refused without being read to its end, and
			// a declared length past it before anything is read.
			if r.ContentLength > e.maxBody+envelopeSlack {
				e.refuse(w, r, c, route, e.tooLarge(r))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, e.maxBody+envelopeSlack)
		}
	}
	if route.class == classNone {
		e.pass(w, r, route)
		return
	}
	if ok, wait := e.rate.allow(clientKey(r, e.ipHeader)); !ok {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
		e.metrics.refused.WithLabelValues(route.class.String(), "rate_limit").Inc()
		e.refuse(w, r, c, route, refuse(errRateLimited, "too many requests from this client; retry after the time in Retry-After"))
		return
	}
	lim := e.reads
	if route.class == classWrite {
		lim = e.writes
	}
	if !lim.acquire(r.Context()) {
		h.Set("Retry-After", "1")
		e.metrics.refused.WithLabelValues(route.class.String(), "overload").Inc()
		e.refuse(w, r, c, route, refuse(errOverloaded, "the server is busy with other %ss; retry after the time in Retry-After", route.class))
		return
	}
	defer lim.release()
	e.pass(w, r, route)
}

// pass hands a call the edge let through to the routes; on Connect, a body
// over the cap gets 413 there too (connectTooLarge).
func (e *edge) pass(w http.ResponseWriter, r *http.Request, route apiRoute) {
	if !route.rest && protocolOf(r) == protoConnect {
		w = &connectTooLarge{ResponseWriter: w}
	}
	e.next.ServeHTTP(w, r)
}

// utf8URL reports whether the path and the query parameters of u are UTF-8
// once percent-decoded.
func utf8URL(u *url.URL) bool {
	if !utf8.ValidString(u.Path) {
		return false
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return true // the transcoder refuses a malformed query by itself
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// envelopeSlack is what a Connect, gRPC or gRPC-Web body may hold besides
// its message (the 5-byte envelope of gRPC), with room to spare for gzip's
// framing of an incompressible message.
const envelopeSlack = 1024

// tooLarge is the refusal of a body over the cap in the protocol of the
// call: 413 on REST and Connect (the status every HTTP protocol gives it,
// see the README's status table), resource_exhausted in the gRPC status of
// gRPC and gRPC-Web, whose clients read no HTTP status.
func (e *edge) tooLarge(r *http.Request) error {
	msg := fmt.Sprintf("request body is larger than %d bytes", e.maxBody)
	if p := protocolOf(r); p == protoGRPC || p == protoGRPCWeb {
		return connect.NewError(connect.CodeResourceExhausted, errors.New(msg))
	}
	return refuse(errBodyTooLarge, "%s", msg)
}

// connectTooLarge answers 413 where Connect's handler answers 429: a Connect
// call whose message is over the cap (Connect's read limit, the capped
// gzip) gets resource_exhausted, which Connect sends as 429, the status of
// the rate limit. Inside the handler nothing else is resource_exhausted
// (the edge answers the rate limit itself), so the rewrite gives a body too
// large the same 413 as on REST, with Connect's own JSON error body.
type connectTooLarge struct{ http.ResponseWriter }

func (c *connectTooLarge) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		code = http.StatusRequestEntityTooLarge
	}
	c.ResponseWriter.WriteHeader(code)
}

// Flush keeps the writer a Flusher.
func (c *connectTooLarge) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (c *connectTooLarge) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// readBody reads a REST request body whole, up to the cap, before the
// transcoder sees it: a larger body is refused (413) and nothing decoded or
// published. The read ends with the request's context (its deadline) as
// well as with the server's body-read deadline (408).
func (e *edge) readBody(w http.ResponseWriter, r *http.Request) error {
	tooLarge := func() error { return refuse(errBodyTooLarge, "request body is larger than %d bytes", e.maxBody) }
	if r.ContentLength > e.maxBody {
		return tooLarge()
	}
	// A read blocked on a silent client returns once the context ends.
	rc := http.NewResponseController(w)
	stop := context.AfterFunc(r.Context(), func() { _ = rc.SetReadDeadline(time.Now()) })
	body, err := io.ReadAll(io.LimitReader(r.Body, e.maxBody+1))
	stop()
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge()
	case err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || r.Context().Err() != nil):
		return refuse(errBodyTimeout, "the request body did not arrive in time")
	case err != nil:
		return refuse(errBodyUnread, "the request body could not be read")
	case int64(len(body)) > e.maxBody:
		return tooLarge()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
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
func (e *edge) preflight(w http.ResponseWriter, r *http.Request, c *call, route apiRoute, known, corsOK bool) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !corsOK {
		e.refuse(w, r, c, route, refuse(errOrigin, "this origin may not call the API from a browser"))
		return
	}
	if !known {
		e.refuse(w, r, c, route, refuse(errNoRoute, msgNoRoute))
		return
	}
	h.Set("Access-Control-Allow-Methods", route.method)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
	c.finish(outcomeOK, http.StatusNoContent, "", "")
}

// refuse answers a call the edge does not let through, with writeError,
// and ends its audit record with what was written.
func (e *edge) refuse(w http.ResponseWriter, r *http.Request, c *call, route apiRoute, err error) {
	code, status := writeError(r.Context(), e.log, w, r, route.rest, err)
	c.finish(code.String(), status, "", "")
}

// statusRecorder remembers the status of an answer, and the start of an
// error body, from which the edge ends the audit record of a call answered
// before the pipeline (outcomeOnWire).
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

// maxRecordedBody is what an error body must hold for its code to be read:
// the Connect error object starts with its code.
const maxRecordedBody = 256

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
	if s.status >= 400 && len(s.body) < maxRecordedBody {
		s.body = append(s.body, b[:min(len(b), maxRecordedBody-len(s.body))]...)
	}
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming protocols working through the recorder.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Admission control and the per-client rate limit, which only the edge uses.

// limiter caps the calls of one route class running at once. A call beyond
// the cap waits in a short FIFO queue for at most maxWait; when the queue is
// full it is refused at once, so that overload is answered in microseconds
// instead of seconds of waiting for a deadline.
type limiter struct {
	slots    chan struct{}
	queued   atomic.Int64
	maxQueue int64
	maxWait  time.Duration
	// inflight and waiting show the limiter's state as metrics.
	inflight, waiting prometheus.Gauge
}

// newLimiter returns a limiter of inflight slots and a queue of queue
// calls; inflight <= 0 means no limit (nil).
func newLimiter(inflight, queue int, maxWait time.Duration, inflightGauge, waitingGauge prometheus.Gauge) *limiter {
	if inflight <= 0 {
		return nil
	}
	return &limiter{slots: make(chan struct{}, inflight), maxQueue: int64(queue), maxWait: maxWait,
		inflight: inflightGauge, waiting: waitingGauge}
}

// acquire takes a slot, waiting in the queue if there is room; false means
// refused. A true acquire must be paired with release.
func (l *limiter) acquire(ctx context.Context) bool {
	if l == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		l.inflight.Inc()
		return true
	default:
	}
	if l.maxWait <= 0 || l.maxQueue <= 0 {
		return false
	}
	if l.queued.Add(1) > l.maxQueue {
		l.queued.Add(-1)
		return false
	}
	l.waiting.Inc()
	defer func() {
		l.queued.Add(-1)
		l.waiting.Dec()
	}()
	t := time.NewTimer(l.maxWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.inflight.Inc()
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *limiter) release() {
	if l != nil {
		<-l.slots
		l.inflight.Dec()
	}
}

// maxTrackedClients bounds the rate limiter's memory: past it, idle clients
// are forgotten at once, and if all are active new clients share one bucket.
const maxTrackedClients = 100000

// rateLimiter is a token bucket per client key: rate calls per second on
// average, burst at once.
type rateLimiter struct {
	rate, burst float64
	now         func() time.Time

	mu        sync.Mutex
	clients   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter returns nil (no limit) when rate <= 0.
func newRateLimiter(rate float64, burst int) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: time.Now, clients: map[string]*bucket{}}
}

// allow takes a token for key; when there is none it returns false and how
// long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxTrackedClients || now.Sub(l.lastSweep) > time.Minute {
			l.sweep(now)
		}
		if len(l.clients) >= maxTrackedClients {
			key = "" // every new client shares the overflow bucket
			b = l.clients[key]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.clients[key] = b
		}
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets clients whose bucket has refilled: they are idle.
func (l *rateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.clients {
		if now.Sub(b.last) >= full {
			delete(l.clients, k)
		}
	}
}

// clientKey names the client of r for the rate limit: the connection's
// address, or, when a trusted proxy's header is configured and present, the
// last address in it (the one the proxy appended). IPv6 clients are keyed by
// their /64, which one host usually owns whole.
func clientKey(r *http.Request, header string) string {
	addr := ""
	if header != "" {
		if v := r.Header.Values(header); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			addr = strings.TrimSpace(last)
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(r.RemoteAddr)
		if splitErr != nil {
			host = r.RemoteAddr
		}
		if ip, err = netip.ParseAddr(host); err != nil {
			return host
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
