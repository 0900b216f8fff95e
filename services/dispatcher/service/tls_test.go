package service_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/dispatcher/config"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// TestDispatcherEncryptedEndToEnd: with TLS_CERT_FILE/TLS_KEY_FILE the public
// port serves HTTPS with h2, and with KAFKA_SECURITY_PROTOCOL=sasl_ssl the
// dispatcher's admin client and producer reach a Kafka that accepts only
// SCRAM-SHA-512 over TLS: an added item is acknowledged by the broker
// (WRITE_STATUS_PUBLISHED, not buffered).
func TestDispatcherEncryptedEndToEnd(t *testing.T) {
	pub, broker := certtest.SelfSigned(t), certtest.SelfSigned(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.EnableSASL(),
		kfake.Superuser(kafkasec.ScramSHA512, "dispatcher", "kafka-secret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{broker.TLS}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ca, err := devpki.EnsureCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.EnsureLeaf(devpki.Leaf{Name: "dispatcher", URIs: []string{clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "d1"}.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := service.Load(config.Load, envconfig.FromMap(map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "TLS_CERT_FILE": pub.CertFile, "TLS_KEY_FILE": pub.KeyFile,
		"KAFKA_BROKERS": strings.Join(kc.ListenAddrs(), ","), "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "dispatcher", "KAFKA_SASL_PASSWORD": "kafka-secret",
		"KAFKA_SSL_CA_LOCATION": broker.CertFile, "REDIS_URL": r.URL(), "AUTH_MODE": "none", "TOPIC_PARTITIONS": "1",
		"CLUSTER_ADDR": "127.0.0.1:0", "CLUSTER_TLS_CA_FILE": files.CA, "CLUSTER_TLS_CERT_FILE": files.Cert, "CLUSTER_TLS_KEY_FILE": files.Key,
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	var srv *dispatcher.Server
	a := fxtest.New(t, service.Options(dispatcher.App(cfg, log), log, reg, reg, fx.Populate(&srv)))
	a.RequireStart()
	defer a.RequireStop()
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("public URL %q, want https://", srv.URL())
	}

	var h2 http.Protocols
	h2.SetHTTP2(true)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pub.Pool}, Protocols: &h2}}
	t.Cleanup(c.CloseIdleConnections)
	res, err := c.Post(srv.URL()+"/item/add", "application/json",
		strings.NewReader(`{"name":"Brass lamp","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		WriteStatus string `json:"writeStatus"`
	}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%d %s: %v", res.StatusCode, b, err)
	}
	if res.ProtoMajor != 2 || res.StatusCode != http.StatusAccepted || body.WriteStatus != "WRITE_STATUS_PUBLISHED" {
		t.Fatalf("POST /item/add over %s: %d %s, want HTTP/2, 202 and WRITE_STATUS_PUBLISHED", res.Proto, res.StatusCode, b)
	}
}
