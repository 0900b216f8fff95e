package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/feeder/adapters/s3"
	"github.com/pawnshop/auction/services/feeder/app"
	"github.com/pawnshop/auction/services/feeder/config"
	feeder "github.com/pawnshop/auction/services/feeder/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

const key = "fraud/fraudsters.txt"

type env struct {
	s3    *embedded.S3
	redis *embedded.Redis
	cfg   config.Config
}

func start(t *testing.T, seed map[string][]byte) env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := embedded.StartS3(ctx, embedded.S3Config{Bucket: "auction", Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	l := envconfig.New(envconfig.FromMap(map[string]string{
		"S3_ENDPOINT": s.Endpoint(), "REDIS_URL": r.URL(), "FEED_INTERVAL": "100ms", "METRICS_ADDR": "off",
		"CLUSTER_NAME": "shop-2",
	}))
	cfg := config.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return env{s3: s, redis: r, cfg: cfg}
}

func newApp(t *testing.T, cfg config.Config, populate ...any) *fxtest.App {
	t.Helper()
	return newAppWith(t, cfg, prometheus.NewRegistry(), populate...)
}

// newAppWith builds the feeder the way the binary and the dev stack do
// (service.Options over feeder.App), under fxtest.
func newAppWith(t *testing.T, cfg config.Config, reg *prometheus.Registry, populate ...any) *fxtest.App {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return fxtest.New(t, service.Options(feeder.App(cfg, log), log, reg, reg, fx.Populate(populate...)))
}

// runOnceApp starts the module in -once mode and returns its exit code.
func runOnceApp(t *testing.T, cfg config.Config) int {
	t.Helper()
	cfg.Once = true
	a := newApp(t, cfg)
	a.RequireStart()
	var sig fx.ShutdownSignal
	select {
	case sig = <-a.Wait():
	case <-time.After(20 * time.Second):
		t.Fatal("-once did not shut the application down")
	}
	a.RequireStop()
	return sig.ExitCode
}

// TestStopClosesTheRedisClient: the connections the feeder opens are
// closed by its OnStop, so a pass after the stop fails.
func TestStopClosesTheRedisClient(t *testing.T) {
	e := start(t, map[string][]byte{key: []byte("mallory\n")})
	var f *app.Feeder
	a := newApp(t, e.cfg, &f)
	a.RequireStart()
	if _, err := f.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.RequireStop()
	if _, err := f.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "client is closed") {
		t.Fatalf("a pass after the stop: %v, want redis: client is closed", err)
	}
}

// TestConstructionDoesNoIO: building the feeder against servers that do not
// exist succeeds (S3 and Redis are reached only from OnStart on).
func TestConstructionDoesNoIO(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"S3_ENDPOINT": "http://127.0.0.1:1", "REDIS_URL": "redis://127.0.0.1:1/0"}))
	cfg := config.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	var src *s3.Source
	a := fx.New(service.Options(feeder.App(cfg, log), log, prometheus.NewRegistry(), prometheus.NewRegistry(), fx.Populate(&src)), fx.NopLogger)
	if err := a.Err(); err != nil || src == nil {
		t.Fatalf("build: %v", err)
	}
}

func TestOnceExitsZeroAfterAPublicationFromS3ToRedis(t *testing.T) {
	e := start(t, map[string][]byte{key: []byte("mallory\neve\n")})
	if code := runOnceApp(t, e.cfg); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	got, err := e.redis.Miniredis().Members("shop-2:fraud:clients")
	if err != nil || !slices.Equal(got, []string{"eve", "mallory"}) {
		t.Fatalf("set %q, %v", got, err)
	}
}

func TestOnceExitsNonZeroWhenThePassFails(t *testing.T) {
	e := start(t, nil) // no object
	if code := runOnceApp(t, e.cfg); code != feeder.ExitPassFailed {
		t.Fatalf("exit code %d, want %d", code, feeder.ExitPassFailed)
	}
	e = start(t, map[string][]byte{key: []byte("not a valid list\n")})
	if code := runOnceApp(t, e.cfg); code != feeder.ExitPassFailed {
		t.Fatalf("malformed list: exit code %d, want %d", code, feeder.ExitPassFailed)
	}
}

func TestRunsEveryIntervalAndOnDemandFromS3ToRedis(t *testing.T) {
	e := start(t, map[string][]byte{key: []byte("mallory\n")})
	var f *app.Feeder
	a := newApp(t, e.cfg, &f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a.RequireStart()
	defer a.RequireStop()
	waitFor := func(want ...string) {
		t.Helper()
		for {
			got, _ := e.redis.Miniredis().Members("shop-2:fraud:clients")
			if slices.Equal(got, want) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("set %q, want %q", got, want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("mallory")

	// Replace the object the way the README says: an unsigned curl PUT.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, e.s3.Endpoint()+"/auction/"+key, strings.NewReader("eve\ntrent\n"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	waitFor("eve", "trent")

	// The dev stack can force a pass; nothing changed, so nothing is published.
	res, err := f.RunOnce(ctx)
	if err != nil || res.Published {
		t.Fatalf("on-demand pass: %+v, %v", res, err)
	}
}

// TestARefusedListIsCountedAndTheListInForceStays: an emptied object in S3 is
// refused, counted in auction_feeder_lists_refused_total{reason="empty"} on
// the registry the host gave, and the list in Redis is unchanged.
func TestARefusedListIsCountedAndTheListInForceStays(t *testing.T) {
	e := start(t, map[string][]byte{key: []byte("mallory\neve\n")})
	reg := prometheus.NewRegistry()
	var f *app.Feeder
	a := newAppWith(t, e.cfg, reg, &f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a.RequireStart()
	defer a.RequireStop()
	if _, err := f.RunOnce(ctx); err != nil { // published, or already by the pass at start
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, e.s3.Endpoint()+"/auction/"+key, strings.NewReader("# nobody\n"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	before := refused(t, reg, "empty")
	if _, err := f.RunOnce(ctx); !errors.Is(err, app.ErrEmpty) {
		t.Fatalf("want ErrEmpty, got %v", err)
	}
	// The passes every FEED_INTERVAL refuse it too: at least one more.
	if got := refused(t, reg, "empty"); got < before+1 {
		t.Fatalf("auction_feeder_lists_refused_total{reason=\"empty\"} = %g, want at least %g", got, before+1)
	}
	if got, _ := e.redis.Miniredis().Members("shop-2:fraud:clients"); !slices.Equal(got, []string{"eve", "mallory"}) {
		t.Fatalf("the list in force changed: %q", got)
	}
}

// refused returns the value of the refusal counter of reason as gathered
// from reg.
func refused(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "auction_feeder_lists_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no auction_feeder_lists_refused_total{reason=%q} in the registry", reason)
	return 0
}

// TestServesItsMetrics: a feeder running passes serves /metrics with its
// refusal counter (every reason from zero) and /healthz on METRICS_ADDR; a
// -once run listens on nothing.
func TestServesItsMetrics(t *testing.T) {
	e := start(t, map[string][]byte{key: []byte("mallory\n")})
	cfg := e.cfg
	cfg.MetricsAddr = "127.0.0.1:0"
	var srv feeder.MetricsServer
	a := newApp(t, cfg, &srv)
	a.RequireStart()
	defer a.RequireStop()
	if srv.Server == nil {
		t.Fatal("no metrics server with METRICS_ADDR set")
	}
	body := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(b)
	}
	if m := body("/metrics"); !strings.Contains(m, `auction_feeder_lists_refused_total{reason="shrink"} 0`) {
		t.Fatalf("/metrics lacks the refusal counter:\n%s", m)
	}
	if h := body("/healthz"); !strings.Contains(h, "ok") {
		t.Fatalf("/healthz: %s", h)
	}

	cfg.Once = true
	var once feeder.MetricsServer
	newApp(t, cfg, &once) // built, not started: a -once run would exit
	if once.Server != nil {
		t.Fatal("a -once run has a metrics server")
	}
}
