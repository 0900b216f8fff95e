package service

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/pawnshop/auction/services/worker/config"
	"github.com/pawnshop/auction/services/worker/ports"
	"github.com/prometheus/client_golang/prometheus"
)

func clusterSource(t testing.TB, ca *devpki.CA, id clustertls.Identity) *clustertls.Source {
	t.Helper()
	f, err := ca.EnsureLeaf(devpki.Leaf{Name: string(id.Role) + "-" + id.ID, URIs: []string{id.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := clustertls.Load(clustertls.Files{CA: f.CA, Cert: f.Cert, Key: f.Key}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestWorkerPortAnswersOnlyDispatchers: under mutual TLS the worker's RPCs
// answer a dispatcher's certificate; another worker's certificate is
// refused with permission_denied, no certificate with unauthenticated, while
// /metrics still answers a probe without one.
func TestWorkerPortAnswersOnlyDispatchers(t *testing.T) {
	ca, err := devpki.EnsureCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := config.Load(envconfig.New(envconfig.FromMap(map[string]string{"WORKER_ID": "w1"})))
	src := clusterSource(t, ca, clustertls.Identity{Role: clustertls.RoleWorker, ID: "w1"})
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := ports.NewWorkerHandler(app.NewFetch(noItems{}), log)
	c.HTTPAddr = "127.0.0.1:0"
	s := newServer(c, h, v, prometheus.NewRegistry(), src, log)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	call := func(cfg *tls.Config) error {
		hc := &http.Client{Transport: clustertls.Transport(cfg), Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		_, err := clusterv1connect.NewWorkerServiceClient(hc, s.URL()).FetchItem(context.Background(),
			connect.NewRequest(&clusterv1.FetchItemRequest{Id: "a"}))
		return err
	}
	expectW1 := clustertls.Expect(clustertls.Identity{Role: clustertls.RoleWorker, ID: "w1"})
	dispatcher := clusterSource(t, ca, clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "d1"})
	if err := call(dispatcher.ClientConfig(expectW1)); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("a dispatcher's call: %v, want the handler's not_found", err)
	}
	other := clusterSource(t, ca, clustertls.Identity{Role: clustertls.RoleWorker, ID: "w2"})
	if err := call(other.ClientConfig(expectW1)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("another worker's call: %v, want permission_denied", err)
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if err := call(noCert); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a call without a certificate: %v, want unauthenticated", err)
	}
	hc := &http.Client{Transport: clustertls.Transport(noCert)}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/metrics without a certificate: %d", res.StatusCode)
	}
}

// TestWorkerCertificateMustNameTheWorker: a worker whose certificate names
// another id refuses to start.
func TestWorkerCertificateMustNameTheWorker(t *testing.T) {
	ca, err := devpki.EnsureCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := ca.EnsureLeaf(devpki.Leaf{Name: "w2", URIs: []string{clustertls.Identity{Role: clustertls.RoleWorker, ID: "w2"}.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	c := config.Load(envconfig.New(envconfig.FromMap(map[string]string{"WORKER_ID": "w1",
		"CLUSTER_TLS_CA_FILE": f.CA, "CLUSTER_TLS_CERT_FILE": f.Cert, "CLUSTER_TLS_KEY_FILE": f.Key})))
	if _, err := newClusterTLS(c, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a worker started with another worker's certificate")
	}
}
