package service_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/httpserver"
	feeder "github.com/pawnshop/auction/services/feeder/service"
)

// TestServesItsMetricsOverTLS: with TLS_CERT_FILE and TLS_KEY_FILE the
// metrics listener answers only over HTTPS.
func TestServesItsMetricsOverTLS(t *testing.T) {
	p := certtest.SelfSigned(t)
	e := start(t, map[string][]byte{key: []byte("mallory\n")})
	cfg := e.cfg
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.MetricsTLS = httpserver.TLSFiles{CertFile: p.CertFile, KeyFile: p.KeyFile}
	var srv feeder.MetricsServer
	a := newApp(t, cfg, &srv)
	a.RequireStart()
	defer a.RequireStop()
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("metrics URL %q, want https://", srv.URL())
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}}
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get(srv.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "ok") {
		t.Fatalf("GET /healthz over TLS: %d %s", resp.StatusCode, b)
	}
	if resp, err := http.Get("http://" + srv.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was answered 200 on the TLS listener")
		}
	}
}

// TestPublishesOverRediss: a -once pass publishes the list to a TLS-only
// Redis through a rediss:// URL and REDIS_TLS_CA_FILE.
func TestPublishesOverRediss(t *testing.T) {
	p := certtest.SelfSigned(t)
	m := miniredis.NewMiniRedis()
	if err := m.StartTLS(&tls.Config{Certificates: []tls.Certificate{p.TLS}, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	e := start(t, map[string][]byte{key: []byte("mallory\n")})
	cfg := e.cfg
	cfg.RedisURL = envconfig.Secret("rediss://" + m.Addr() + "/0")
	cfg.RedisCAFile = p.CertFile
	if code := runOnceApp(t, cfg); code != 0 {
		t.Fatalf("-once over rediss:// exited %d", code)
	}
	if len(m.Keys()) == 0 {
		t.Fatal("nothing was written to the TLS Redis")
	}
	if len(e.redis.Miniredis().Keys()) != 0 {
		t.Fatal("the plain Redis was written to")
	}
}
