package redisclient_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/redisclient"
)

// startTLS runs a miniredis that speaks only TLS, with the certificate of p.
func startTLS(t testing.TB, p certtest.Pair) *miniredis.Miniredis {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.StartTLS(&tls.Config{Certificates: []tls.Certificate{p.TLS}, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestRedissWithPrivateCA(t *testing.T) {
	srv := certtest.SelfSigned(t)
	m := startTLS(t, srv)
	u := envconfig.Secret("rediss://" + m.Addr() + "/0")
	l := envconfig.New(envconfig.FromMap(map[string]string{"REDIS_URL": u.Reveal(), "REDIS_TLS_CA_FILE": srv.CertFile}))
	gotURL := redisclient.URL(l, "REDIS_URL", "", "help")
	ca := redisclient.CAFile(l, gotURL)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	c, err := redisclient.New(gotURL, slog.New(slog.DiscardHandler), redisclient.WithCAFile(ca))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if got, _ := m.Get("k"); got != "v" {
		t.Errorf("k = %q", got)
	}
}

func TestRedissRefusesAnUntrustedServer(t *testing.T) {
	srv, other := certtest.SelfSigned(t), certtest.SelfSigned(t)
	m := startTLS(t, srv)
	for name, opts := range map[string][]redisclient.Option{
		"system CAs": nil,
		"another CA": {redisclient.WithCAFile(other.CertFile)},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := redisclient.New(envconfig.Secret("rediss://"+m.Addr()+"/0"), slog.New(slog.DiscardHandler), opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			err = c.Ping(context.Background()).Err()
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("PING to a server whose certificate is not trusted: %v, want a certificate error", err)
			}
		})
	}
	// Plain redis:// to the TLS port does not talk either.
	c, err := redisclient.New(envconfig.Secret("redis://"+m.Addr()+"/0"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("plain PING to a TLS-only server succeeded")
	}
}

func TestTLSConfigChecks(t *testing.T) {
	ca := certtest.SelfSigned(t)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		problem string
	}{
		{name: "rediss with CA", env: map[string]string{"REDIS_URL": "rediss://:pw@redis.example:6380/0", "REDIS_TLS_CA_FILE": ca.CertFile}},
		{name: "rediss with system CAs", env: map[string]string{"REDIS_URL": "rediss://redis.example:6380/0"}},
		{name: "CA with plain URL", env: map[string]string{"REDIS_URL": "redis://redis.example:6379/0", "REDIS_TLS_CA_FILE": ca.CertFile}, problem: "REDIS_TLS_CA_FILE: is set but REDIS_URL is not a rediss://"},
		{name: "missing CA file", env: map[string]string{"REDIS_URL": "rediss://redis.example:6380/0", "REDIS_TLS_CA_FILE": ca.CertFile + ".missing"}, problem: "REDIS_TLS_CA_FILE: read the CA file"},
		{name: "CA file without certificates", env: map[string]string{"REDIS_URL": "rediss://redis.example:6380/0", "REDIS_TLS_CA_FILE": ca.KeyFile}, problem: "no PEM certificate"},
		{name: "skip_verify", env: map[string]string{"REDIS_URL": "rediss://:pw@redis.example:6380/0?skip_verify=true"}, problem: "REDIS_URL: skip_verify turns off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := envconfig.New(envconfig.FromMap(tc.env))
			redisclient.CAFile(l, redisclient.URL(l, "REDIS_URL", "", "help"))
			err := l.Err()
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("err %v, want %q", err, tc.problem)
			}
		})
	}
	if _, err := redisclient.New("rediss://redis.example:6380/0?skip_verify=true", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepted skip_verify")
	}
	if _, err := redisclient.New("redis://redis.example:6379/0", slog.New(slog.DiscardHandler), redisclient.WithCAFile(ca.CertFile)); err == nil {
		t.Error("New accepted a CA file for a plain URL")
	}
}
