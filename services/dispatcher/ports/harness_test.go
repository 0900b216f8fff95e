package ports

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/prometheus/client_golang/prometheus"
)

// gate blocks calls while closed; entered counts the calls waiting in it.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	entered chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan struct{}, 1024)} }

func (g *gate) wait(ctx context.Context) {
	if g == nil {
		return
	}
	g.entered <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

type fakePublisher struct {
	gate *gate
	err  error // every publish fails with it when set
}

func (p *fakePublisher) Publish(ctx context.Context, _ app.Event) (app.WriteStatus, error) {
	p.gate.wait(ctx)
	if p.err != nil {
		return 0, p.err
	}
	return app.Published, nil
}

// fraudList flags the clients it holds.
type fraudList map[string]bool

func (f fraudList) Flagged(id string) bool { return f[id] }

// fakeWorker serves every read with one item, after its gate.
type fakeWorker struct{ gate *gate }

func item(id string) *auctionv1.ItemWithHistory {
	return &auctionv1.ItemWithHistory{Item: &auctionv1.Item{Id: id, Name: "ring"}}
}

func (w *fakeWorker) FetchItem(ctx context.Context, r *clusterv1.FetchItemRequest) (*clusterv1.FetchItemResponse, error) {
	w.gate.wait(ctx)
	if r.GetId() == "missing" {
		return nil, app.ErrNotFound
	}
	return &clusterv1.FetchItemResponse{Item: item(r.GetId())}, nil
}

func (w *fakeWorker) FetchItemsByName(ctx context.Context, r *clusterv1.FetchItemsByNameRequest) (*clusterv1.FetchItemsByNameResponse, error) {
	w.gate.wait(ctx)
	return &clusterv1.FetchItemsByNameResponse{Items: []*auctionv1.ItemWithHistory{item("a")}}, nil
}

func (w *fakeWorker) FetchItemsByCategory(ctx context.Context, r *clusterv1.FetchItemsByCategoryRequest) (*clusterv1.FetchItemsByCategoryResponse, error) {
	w.gate.wait(ctx)
	return &clusterv1.FetchItemsByCategoryResponse{Items: []*auctionv1.ItemWithHistory{item("a")}}, nil
}

func (w *fakeWorker) FetchItemsByState(ctx context.Context, r *clusterv1.FetchItemsByStateRequest) (*clusterv1.FetchItemsByStateResponse, error) {
	w.gate.wait(ctx)
	return &clusterv1.FetchItemsByStateResponse{Items: []*auctionv1.ItemWithHistory{item("a")}}, nil
}

// onePool holds one worker.
type onePool struct{ c app.WorkerClient }

func (p onePool) Pick(exclude string) (string, app.WorkerClient, bool) {
	if exclude == "w1" || p.c == nil {
		return "", nil, false
	}
	return "w1", p.c, true
}

func (onePool) MarkDown(string) {}

type ready struct{}

func (ready) Ready(context.Context) (bool, map[string]any) {
	return true, map[string]any{"detail": "yes"}
}

// auditLog keeps the audit records.
type auditLog struct {
	mu   sync.Mutex
	recs []*eventsv1.AuditRecord
}

func (a *auditLog) Record(r *eventsv1.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
}

func (a *auditLog) records() []*eventsv1.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*eventsv1.AuditRecord(nil), a.recs...)
}

func (a *auditLog) statuses() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.recs {
		out = append(out, r.GetStatus())
	}
	return out
}

// fixture is the dispatcher's handler over in-memory fakes.
type fixture struct {
	h       http.Handler
	audit   *auditLog
	reads   *gate // blocks worker reads when set
	writes  *gate // blocks publishes when set
	metrics *Metrics
}

type fixtureOpts struct {
	cfg         HandlerConfig
	blockReads  bool
	blockWrites bool
	worker      app.WorkerClient // replaces the fake worker
	fraud       fraudList        // clients on the fraud list
	publishErr  error            // every publish fails with it
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{audit: &auditLog{}}
	if o.blockReads {
		f.reads = newGate()
		t.Cleanup(f.reads.release)
	}
	if o.blockWrites {
		f.writes = newGate()
		t.Cleanup(f.writes.release)
	}
	if o.cfg.MaxBodyBytes == 0 {
		o.cfg.MaxBodyBytes = 1 << 20
	}
	if o.cfg.RequestTimeout == 0 {
		o.cfg.RequestTimeout = 10 * time.Second
	}
	if o.cfg.Auth == nil {
		// The API's own tests run open; auth_test.go covers authentication.
		o.cfg.Auth, o.cfg.AuthNone = &auth.Authenticator{Disabled: true}, true
	}
	log := slog.New(slog.DiscardHandler)
	var worker app.WorkerClient = &fakeWorker{gate: f.reads}
	if o.worker != nil {
		worker = o.worker
	}
	writes := app.NewWrites(topics.For(clustername.Name{}), &fakePublisher{gate: f.writes, err: o.publishErr}, o.fraud, newMemClaims())
	reads := app.NewReads(onePool{c: worker}, 5*time.Second)
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.metrics = m
	h, err := NewHandler(o.cfg, NewAuctionHandler(writes, reads, log), v, ready{}, f.audit, m, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// server serves the fixture over HTTP/1.1 (and HTTP/2 over TLS when h2).
func (f *fixture) server(t testing.TB, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(f.h)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", r.status, r.body)
	}
	return m
}

func (r reply) message(t testing.TB) string {
	msg, _ := r.json(t)["message"].(string)
	return msg
}

// do serves one request in-process.
func (f *fixture) do(method, target, contentType, body string, header ...string) reply {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Result().Header, body: rec.Body.Bytes()}
}

// send makes one request to a server.
func send(t testing.TB, c *http.Client, method, url, contentType, body string, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return reply{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

func slog0() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
