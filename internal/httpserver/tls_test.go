package httpserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/httpserver"
)

// protoEcho answers with the protocol the request arrived over.
var protoEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	tlsOn := "plain"
	if r.TLS != nil {
		tlsOn = "tls"
	}
	_, _ = io.WriteString(w, r.Proto+" "+tlsOn)
})

func get(t testing.TB, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTLSServesH2AndHTTP1(t *testing.T) {
	p := certtest.SelfSigned(t)
	s := start(t, protoEcho, httpserver.WithTLS(httpserver.TLSFiles{CertFile: p.CertFile, KeyFile: p.KeyFile}))
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %q, want https://", s.URL())
	}

	var h2 http.Protocols
	h2.SetHTTP2(true)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}, Protocols: &h2}}
	t.Cleanup(c.CloseIdleConnections)
	got, err := get(t, c, s.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got != "HTTP/2.0 tls" {
		t.Errorf("h2 client got %q, want HTTP/2.0 over TLS", got)
	}

	c1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}} // no ForceAttemptHTTP2: h1
	t.Cleanup(c1.CloseIdleConnections)
	got, err = get(t, c1, s.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got != "HTTP/1.1 tls" {
		t.Errorf("HTTP/1.1 client got %q", got)
	}
}

func TestTLSUntrustedClientFails(t *testing.T) {
	p := certtest.SelfSigned(t)
	s := start(t, protoEcho, httpserver.WithTLS(httpserver.TLSFiles{CertFile: p.CertFile, KeyFile: p.KeyFile}))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	t.Cleanup(c.CloseIdleConnections)
	_, err := get(t, c, s.URL()+"/")
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Fatalf("client not trusting the certificate: err %v, want a certificate verification error", err)
	}
	// Plain HTTP to the TLS port is not served either.
	plain := &http.Client{}
	if got, err := get(t, plain, "http://"+s.Addr()+"/"); err == nil && strings.Contains(got, "plain") {
		t.Fatalf("plain HTTP to a TLS listener answered %q", got)
	}
}

func TestPlainKeepsH2C(t *testing.T) {
	s := start(t, protoEcho)
	if !strings.HasPrefix(s.URL(), "http://") {
		t.Fatalf("URL %q, want http://", s.URL())
	}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	t.Cleanup(c.CloseIdleConnections)
	got, err := get(t, c, s.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got != "HTTP/2.0 plain" {
		t.Errorf("h2c client got %q", got)
	}
}

func TestTLSConfigMutual(t *testing.T) {
	srv, cli := certtest.SelfSigned(t), certtest.SelfSigned(t)
	s := start(t, protoEcho, httpserver.WithTLSConfig(&tls.Config{
		Certificates: []tls.Certificate{srv.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    cli.Pool,
	}))
	with := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Pool, Certificates: []tls.Certificate{cli.TLS}}, ForceAttemptHTTP2: true}}
	t.Cleanup(with.CloseIdleConnections)
	got, err := get(t, with, s.URL()+"/")
	if err != nil || got != "HTTP/2.0 tls" {
		t.Fatalf("client with a certificate: %q, %v; want HTTP/2.0 over TLS", got, err)
	}
	without := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Pool}}}
	t.Cleanup(without.CloseIdleConnections)
	if got, err := get(t, without, s.URL()+"/"); err == nil {
		t.Fatalf("client without a certificate was answered %q", got)
	}
}

func TestTLSBadFilesFailStart(t *testing.T) {
	p := certtest.SelfSigned(t)
	other := certtest.SelfSigned(t)
	s := httpserver.New("test", "127.0.0.1:0", protoEcho, slog.New(slog.DiscardHandler),
		httpserver.WithTLS(httpserver.TLSFiles{CertFile: p.CertFile, KeyFile: other.KeyFile}))
	if err := s.Start(context.Background()); err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("Start with a key not matching the certificate succeeded")
	}
}

func TestLoadTLS(t *testing.T) {
	p := certtest.SelfSigned(t)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    httpserver.TLSFiles
		problem string
	}{
		{name: "neither", env: map[string]string{}},
		{name: "both", env: map[string]string{"TLS_CERT_FILE": p.CertFile, "TLS_KEY_FILE": p.KeyFile}, want: httpserver.TLSFiles{CertFile: p.CertFile, KeyFile: p.KeyFile}},
		{name: "cert only", env: map[string]string{"TLS_CERT_FILE": p.CertFile}, problem: "TLS_KEY_FILE: is required when TLS_CERT_FILE is set"},
		{name: "key only", env: map[string]string{"TLS_KEY_FILE": p.KeyFile}, problem: "TLS_CERT_FILE: is required when TLS_KEY_FILE is set"},
		{name: "missing file", env: map[string]string{"TLS_CERT_FILE": p.CertFile + ".missing", "TLS_KEY_FILE": p.KeyFile}, problem: "TLS_CERT_FILE: cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := envconfig.New(envconfig.FromMap(tc.env))
			got := httpserver.LoadTLS(l)
			err := l.Err()
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("err %v, want %q", err, tc.problem)
			}
		})
	}
}
