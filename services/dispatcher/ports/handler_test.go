package ports

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/services/dispatcher/adapters/workerconnect"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

const (
	restGet     = "/item/fetch/ring-1"
	connectGet  = "/auction.v1.AuctionService/GetItem"
	connectAdd  = "/auction.v1.AuctionService/AddItem"
	validAdd    = `{"name":"ring","category":"CATEGORY_JEWELRY","priceCents":100,"state":"STATE_NEW"}`
	validBuy    = `{"clientId":"alice","itemId":"ring-1","priceCents":100}`
	jsonType    = "application/json"
	retryHeader = "Retry-After"
)

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// With 2 reads in flight and 1 queued, the next read is refused with 503 +
// Retry-After while the others still run (at once, not after a wait), on
// REST, Connect and gRPC alike; writes, another class, still pass; the
// refusals are audited.
func TestAdmissionRefusesAtOnce(t *testing.T) {
	f := newFixture(t, fixtureOpts{blockReads: true, cfg: HandlerConfig{Edge: EdgeConfig{
		MaxInflightReads: 2, QueueReads: 1, MaxInflightWrites: 2, QueueWait: time.Minute}}})
	srv := f.server(t, true)
	c := srv.Client()

	var wg sync.WaitGroup
	results := make(chan int, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- send(t, c, "GET", srv.URL+restGet, "", "").status
		}()
	}
	<-f.reads.entered
	<-f.reads.entered
	waitFor(t, "a queued read", func() bool { return value(f.metrics.queued.WithLabelValues("read")) == 1 })

	rest := send(t, c, "GET", srv.URL+restGet, "", "")
	if rest.status != http.StatusServiceUnavailable || rest.header.Get(retryHeader) == "" || rest.json(t)["code"] != "unavailable" {
		t.Errorf("REST read over the limit: %d %v %s, want 503 unavailable with Retry-After", rest.status, rest.header, rest.body)
	}
	con := send(t, c, "POST", srv.URL+connectGet, jsonType, `{"id":"ring-1"}`)
	if con.status != http.StatusServiceUnavailable || con.header.Get(retryHeader) == "" || con.json(t)["code"] != "unavailable" {
		t.Errorf("Connect read over the limit: %d %s, want 503 unavailable with Retry-After", con.status, con.body)
	}
	grpc := auctionv1connect.NewAuctionServiceClient(c, srv.URL, connect.WithGRPC())
	_, err := grpc.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "ring-1"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("gRPC read over the limit: %v, want unavailable", err)
	}
	if w := send(t, c, "POST", srv.URL+"/item/add", jsonType, validAdd); w.status != http.StatusAccepted {
		t.Errorf("a write while reads are saturated: %d %s, want 202", w.status, w.body)
	}
	if n := value(f.metrics.refused.WithLabelValues("read", "overload")); n != 3 {
		t.Errorf("refused reads counted %v, want 3", n)
	}

	f.reads.release()
	wg.Wait()
	close(results)
	for code := range results {
		if code != http.StatusOK {
			t.Errorf("an admitted or queued read ended with %d, want 200", code)
		}
	}
	unavailable := 0
	for _, s := range f.audit.statuses() {
		if s == "unavailable" {
			unavailable++
		}
	}
	if unavailable != 3 {
		t.Errorf("audit records %v: want the 3 refusals as unavailable", f.audit.statuses())
	}
}

// A queued call that waits past the queue wait is refused.
func TestAdmissionQueueWait(t *testing.T) {
	f := newFixture(t, fixtureOpts{blockWrites: true, cfg: HandlerConfig{Edge: EdgeConfig{
		MaxInflightWrites: 1, QueueWrites: 5, QueueWait: 20 * time.Millisecond}}})
	done := make(chan reply, 1)
	go func() { done <- f.do("POST", "/item/add", jsonType, validAdd) }()
	<-f.writes.entered
	if r := f.do("POST", "/item/action/buy", jsonType, validBuy); r.status != http.StatusServiceUnavailable {
		t.Errorf("a write queued past the wait: %d %s, want 503", r.status, r.body)
	}
	f.writes.release()
	if r := <-done; r.status != http.StatusAccepted {
		t.Errorf("the admitted write: %d", r.status)
	}
}

// Past its burst, a client gets 429 + Retry-After (resource_exhausted);
// another client is not affected; a proxy header counts only when configured.
func TestRateLimitPerClient(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: HandlerConfig{Edge: EdgeConfig{RatePerClient: 0.001, RateBurst: 2}}})
	call := func(remote string, hdr ...string) reply {
		req, _ := http.NewRequest("GET", "http://x"+restGet, nil)
		req.RemoteAddr = remote
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := newRecorder()
		f.h.ServeHTTP(rec, req)
		return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	for i := range 2 {
		if r := call("192.0.2.1:1000"); r.status != http.StatusOK {
			t.Fatalf("call %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := call("192.0.2.1:2000", "X-Forwarded-For", "198.51.100.9")
	if r.status != http.StatusTooManyRequests || r.json(t)["code"] != "resource_exhausted" {
		t.Fatalf("call past the burst: %d %s, want 429 resource_exhausted", r.status, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get(retryHeader)); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want whole seconds >= 1", r.header.Get(retryHeader))
	}
	if r := call("192.0.2.2:1000"); r.status != http.StatusOK {
		t.Errorf("another client: %d", r.status)
	}

	trusted := newFixture(t, fixtureOpts{cfg: HandlerConfig{Edge: EdgeConfig{RatePerClient: 0.001, RateBurst: 1, ClientIPHeader: "X-Forwarded-For"}}})
	call2 := func(xff string) int {
		req, _ := http.NewRequest("GET", "http://x"+restGet, nil)
		req.RemoteAddr = "10.0.0.1:5000" // the proxy
		req.Header.Set("X-Forwarded-For", xff)
		rec := newRecorder()
		trusted.h.ServeHTTP(rec, req)
		return rec.Code
	}
	if a, b := call2("1.1.1.1, 203.0.113.1"), call2("2.2.2.2, 203.0.113.2"); a != 200 || b != 200 {
		t.Errorf("two clients behind a trusted proxy: %d %d, want both 200", a, b)
	}
	if c := call2("9.9.9.9, 203.0.113.1"); c != http.StatusTooManyRequests {
		t.Errorf("the same client behind the proxy (spoofed first hop): %d, want 429", c)
	}
}

// A REST or Connect body trickled slower than the body-read deadline is cut
// off, and so is a REST body still arriving at the request's deadline.
func TestSlowBodyCut(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: HandlerConfig{RequestTimeout: 300 * time.Millisecond}})
	srv := httpserver.New("test", "127.0.0.1:0", f.h, slog0(), httpserver.WithBodyReadTimeout(time.Hour))
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	slow := httpserver.New("test", "127.0.0.1:0", newFixture(t, fixtureOpts{}).h, slog0(), httpserver.WithBodyReadTimeout(300*time.Millisecond))
	if err := slow.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Stop(context.Background()) })

	cases := []struct {
		name, addr, path, ctype string
		want                    []int
	}{
		{"REST at the request deadline", srv.Addr(), "/item/add", jsonType, []int{http.StatusRequestTimeout}},
		{"REST at the body deadline", slow.Addr(), "/item/add", jsonType, []int{http.StatusRequestTimeout}},
		{"Connect at the body deadline", slow.Addr(), connectAdd, jsonType, []int{http.StatusGatewayTimeout}}, // deadline_exceeded
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{", c.path, c.ctype)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		close(stop)
		conn.Close()
		if err != nil {
			t.Errorf("%s: no answer to a trickled body: %v", c.name, err)
			continue
		}
		head := string(buf[:n])
		checkNoLeak(t, c.name, buf[:n])
		ok := false
		for _, w := range c.want {
			ok = ok || strings.HasPrefix(head, fmt.Sprintf("HTTP/1.1 %d", w))
		}
		if !ok {
			t.Errorf("%s: answered %q, want one of %v", c.name, head, c.want)
		}
	}
}

// REST writes take JSON only; Connect takes its own types; both answer 415
// with the Connect error body.
func TestUnsupportedMediaType(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cases := []struct{ path, ctype, encoding string }{
		{"/item/add", "text/plain", ""},
		{"/item/add", "application/x-www-form-urlencoded", ""},
		{"/item/add", "multipart/form-data; boundary=x", ""},
		{"/item/add", "", ""},
		{"/item/add", "application/json; charset=latin1", ""},
		{"/item/add", "application/json", "gzip"},
		{connectAdd, "text/plain", ""},
		{connectAdd, "", ""},
	}
	for _, c := range cases {
		r := f.do("POST", c.path, c.ctype, validAdd, "Content-Encoding", c.encoding)
		if c.encoding == "" {
			r = f.do("POST", c.path, c.ctype, validAdd)
		}
		if r.status != http.StatusUnsupportedMediaType || r.json(t)["message"] == "" || r.header.Get("Accept-Post") == "" {
			t.Errorf("POST %s as %q (encoding %q): %d %s, want 415 with a message and Accept-Post", c.path, c.ctype, c.encoding, r.status, r.body)
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/JSON;charset=UTF-8"} {
		if r := f.do("POST", "/item/add", ct, validAdd); r.status != http.StatusAccepted {
			t.Errorf("REST write as %q: %d %s, want 202", ct, r.status, r.body)
		}
	}
}

// Every API answer, success or error, says nosniff and no-store; the docs
// stay cacheable.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, r := range []reply{
		f.do("GET", restGet, "", ""),
		f.do("POST", "/item/add", jsonType, validAdd),
		f.do("POST", "/item/add", jsonType, `{`),
		f.do("POST", connectGet, jsonType, `{"id":"ring-1"}`),
		f.do("GET", "/nowhere", "", ""),
		f.do("GET", "/readyz", "", ""),
	} {
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("answer %d %s lacks nosniff/no-store: %v", r.status, r.body, r.header)
		}
	}
	if r := f.do("GET", "/openapi.json", "", ""); r.header.Get("Cache-Control") == "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/openapi.json headers %v", r.header)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(f *fixture, path, origin string) reply {
		return f.do("OPTIONS", path, "", "", "Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	off := newFixture(t, fixtureOpts{})
	r := preflight(off, "/item/add", "https://evil.example")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Allow") != "POST" {
		t.Errorf("CORS off, preflight: %d %v, want 405 Allow: POST and no CORS headers", r.status, r.header)
	}
	if r := off.do("GET", restGet, "", "", "Origin", "https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off, a cross-origin read got %v", r.header)
	}

	on := newFixture(t, fixtureOpts{cfg: HandlerConfig{Edge: EdgeConfig{CORSOrigins: []string{"https://shop.example"}}}})
	for _, path := range []string{"/item/add", connectAdd} {
		r := preflight(on, path, "https://shop.example")
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "content-type") {
			t.Errorf("CORS on, preflight of %s: %d %v", path, r.status, r.header)
		}
		if r := preflight(on, path, "https://evil.example"); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS on, preflight of %s from another origin: %d %v, want 403 without CORS headers", path, r.status, r.header)
		}
	}
	r = on.do("GET", restGet, "", "", "Origin", "https://shop.example")
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Grpc-Status") {
		t.Errorf("CORS on, a read from the allowed origin: %d %v", r.status, r.header)
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, c := range []struct {
		method, path, allow string
	}{
		{"GET", "/item/add", "POST"},
		{"PUT", "/item/action/buy", "POST"},
		{"POST", restGet, "GET"},
		{"DELETE", "/item/fetch", "GET"},
		{"OPTIONS", "/item/add", "POST"},
		{"GET", connectAdd, "POST"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		r := f.do(c.method, c.path, "", "")
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != c.allow || r.message(t) == "" {
			t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q with a JSON body", c.method, c.path, r.status, r.header.Get("Allow"), r.body, c.allow)
		}
	}
	for _, p := range []string{"/nowhere", "/item/nowhere", "/item/fetch/a/b", "/auction.v1.AuctionService/Nope", "/cluster.v1.MembershipService/Nope", "/grpc.health.v1.Health/Nope", "/item"} {
		r := f.do("POST", p, jsonType, "{}")
		if r.status != http.StatusNotFound || r.json(t)["code"] != "not_found" {
			t.Errorf("POST %s: %d %s, want a JSON 404", p, r.status, r.body)
		}
	}
	if r := f.do("GET", "/", "", ""); r.status != http.StatusFound || r.header.Get("Location") != "/docs/" {
		t.Errorf("GET /: %d Location %q, want a redirect to /docs/", r.status, r.header.Get("Location"))
	}
}

// violations decodes the buf.validate.Violations detail of a Connect JSON
// error body.
func violations(t *testing.T, body map[string]any) *validate.Violations {
	t.Helper()
	details, _ := body["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		if dm["type"] != "buf.validate.Violations" {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(dm["value"].(string), "="))
		if err != nil {
			t.Fatal(err)
		}
		var v validate.Violations
		if err := proto.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return &v
	}
	t.Fatalf("no buf.validate.Violations detail in %v", body)
	return nil
}

// Validation errors name fields by their JSON names, in the message and in
// the violations detail, identically on REST and Connect.
func TestValidationUsesJSONNames(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	bad := `{"clientId":"a","itemId":"i","priceCents":-5}`
	rest := f.do("POST", "/item/action/buy", jsonType, bad)
	con := f.do("POST", "/auction.v1.AuctionService/BuyItem", jsonType, bad)
	if rest.status != http.StatusBadRequest || con.status != http.StatusBadRequest || !bytes.Equal(rest.body, con.body) {
		t.Fatalf("REST %d %s\nConnect %d %s\nwant the same 400", rest.status, rest.body, con.status, con.body)
	}
	msg := rest.message(t)
	if !strings.Contains(msg, "priceCents") || strings.Contains(msg, "price_cents") {
		t.Errorf("message %q must name priceCents, not price_cents", msg)
	}
	v := violations(t, rest.json(t))
	var names []string
	for _, vi := range v.GetViolations() {
		for _, el := range vi.GetField().GetElements() {
			names = append(names, el.GetFieldName())
		}
	}
	if !strings.Contains(strings.Join(names, ","), "priceCents") || strings.Contains(strings.Join(names, ","), "_") {
		t.Errorf("violation field names %v, want JSON names", names)
	}

	// And over the Connect client, the detail decodes as the same proto.
	srv := f.server(t, false)
	client := auctionv1connect.NewAuctionServiceClient(srv.Client(), srv.URL)
	_, err := client.BuyItem(context.Background(), connect.NewRequest(&auctionv1.BuyItemRequest{ClientId: "a", ItemId: "i", PriceCents: -5}))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || len(cerr.Details()) == 0 {
		t.Fatalf("connect client: %v", err)
	}
	val, err := cerr.Details()[0].Value()
	if err != nil {
		t.Fatal(err)
	}
	if vs, ok := val.(*validate.Violations); !ok || vs.GetViolations()[0].GetField().GetElements()[0].GetFieldName() != "priceCents" {
		t.Errorf("connect detail %v", val)
	}
}

// leaks are what no error body may contain: Go type names, decoder
// internals, addresses.
var leaks = []string{"auctionv1", "clusterv1", "unmarshal into", "dial tcp", "127.0.0.1", "connection refused", "goroutine", ".go:"}

func checkNoLeak(t testing.TB, what string, body []byte) {
	t.Helper()
	for _, l := range leaks {
		if bytes.Contains(body, []byte(l)) {
			t.Errorf("%s: body leaks %q: %s", what, l, body)
		}
	}
}

// Malformed bodies get a 400 that says what is wrong in the client's terms.
func TestMalformedJSONMessages(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, body := range []string{`{"name":`, `{"priceCents":"abc"}`, `[1,2]`, `{"name":1}`, `nope`} {
		for _, path := range []string{"/item/add", connectAdd} {
			r := f.do("POST", path, jsonType, body)
			if r.status != http.StatusBadRequest || r.json(t)["code"] != "invalid_argument" {
				t.Errorf("POST %s %s: %d %s, want 400 invalid_argument", path, body, r.status, r.body)
			}
			checkNoLeak(t, path+" "+body, r.body)
			if msg := r.message(t); !strings.Contains(msg, "JSON") {
				t.Errorf("POST %s %s: message %q does not say the JSON is wrong", path, body, msg)
			}
		}
	}
	if msg := f.do("POST", "/item/add", jsonType, `{"priceCents":"abc"}`).message(t); !strings.Contains(msg, "priceCents") {
		t.Errorf("a bad field value: message %q does not name priceCents", msg)
	}
	r := f.do("GET", "/item/fetch?state=STATE_NEW&limit=abc", "", "")
	if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "limit") || strings.Contains(r.message(t), "strconv") {
		t.Errorf("a bad query parameter: %d %s", r.status, r.body)
	}
}

// A worker that cannot be reached, or answers HTTP 404 (nothing there is a
// worker), makes a read unavailable (503), never 501, and no address or
// transport error reaches the client.
func TestWorkerErrorsDoNotLeak(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	notWorker := httptest.NewServer(http.NotFoundHandler()) // a server that is no worker
	t.Cleanup(notWorker.Close)
	for name, addr := range map[string]string{"closed port": closed, "HTTP 404": notWorker.URL} {
		w := workerconnect.Factory(workerconnect.NewHTTPClient(), 0)("w", addr)
		f := newFixture(t, fixtureOpts{worker: w})
		for _, r := range []reply{f.do("GET", restGet, "", ""), f.do("POST", connectGet, jsonType, `{"id":"ring-1"}`)} {
			if r.status != http.StatusServiceUnavailable || r.json(t)["code"] != "unavailable" {
				t.Errorf("%s: %d %s, want 503 unavailable", name, r.status, r.body)
			}
			checkNoLeak(t, name, r.body)
		}
	}
}

// A gzip bomb is refused once its inflated size passes the cap, without
// being inflated to its end (Connect's own gzip reader inflates the rest to
// report the full size).
func TestGzipBombStopsAtCap(t *testing.T) {
	const inflated = 8 << 20
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write([]byte(`{"name":"`))
	_, _ = zw.Write(make([]byte, inflated))
	_ = zw.Close()
	f := newFixture(t, fixtureOpts{cfg: HandlerConfig{MaxBodyBytes: 64 << 10}})
	r := f.do("POST", connectAdd, jsonType, buf.String(), "Content-Encoding", "gzip")
	if r.status != http.StatusRequestEntityTooLarge || r.json(t)["code"] != "resource_exhausted" {
		t.Fatalf("gzip bomb: %d %s, want 413 resource_exhausted", r.status, r.body)
	}
	if msg := r.message(t); regexp.MustCompile(`message size \d+`).MatchString(msg) {
		t.Errorf("the bomb was inflated to its end to report its size: %q", msg)
	}
}

// A small gzip body within the cap still works on Connect.
func TestGzipWithinCap(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(validAdd))
	_ = zw.Close()
	f := newFixture(t, fixtureOpts{})
	if r := f.do("POST", connectAdd, jsonType, buf.String(), "Content-Encoding", "gzip"); r.status != http.StatusOK {
		t.Errorf("gzip AddItem: %d %s", r.status, r.body)
	}
}

// value reads a gauge or counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}
