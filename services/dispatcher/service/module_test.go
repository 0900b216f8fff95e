package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/dispatcher/config"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// newDispatcher builds a dispatcher the way the binary and the dev stack do,
// under fxtest, on embedded Kafka and Redis.
func newDispatcher(t *testing.T) (*fxtest.App, *dispatcher.Server, *dispatcher.ClusterServer, *devpki.CA) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := embedded.StartKafka(ctx, embedded.KafkaConfig{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
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
		"HTTP_ADDR": "127.0.0.1:0", "KAFKA_BROKERS": k.Brokers(), "REDIS_URL": r.URL(), "AUTH_MODE": "none",
		"CLUSTER_ADDR": "127.0.0.1:0", "CLUSTER_TLS_CA_FILE": files.CA, "CLUSTER_TLS_CERT_FILE": files.Cert, "CLUSTER_TLS_KEY_FILE": files.Key,
		"TOPIC_PARTITIONS": "1", "HEARTBEAT_INTERVAL": "1s", "MISSED_HEARTBEATS": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	var srv *dispatcher.Server
	var csrv *dispatcher.ClusterServer
	return fxtest.New(t, service.Options(dispatcher.App(cfg, log), log, reg, reg, fx.Populate(&srv, &csrv))), srv, csrv, ca
}

// readyWorkers returns /readyz's status and the workers it lists.
func readyWorkers(t *testing.T, url string) (int, int) {
	t.Helper()
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Workers []any `json:"workers"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, len(body.Workers)
}

// TestDispatcherServesRunsItsLoopsAndStops: started, the dispatcher answers
// /healthz and /readyz, admits a worker, and its eviction loop removes the
// worker once it misses its heartbeat; stopped, its port closes.
func TestDispatcherServesRunsItsLoopsAndStops(t *testing.T) {
	a, srv, csrv, ca := newDispatcher(t)
	a.RequireStart()
	url := srv.URL()
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz %d", res.StatusCode)
	}
	if code, _ := readyWorkers(t, url); code != http.StatusOK {
		t.Fatalf("/readyz %d with Kafka up and READY_MIN_WORKERS=0", code)
	}
	// A worker joins on the cluster listener, with its certificate.
	wf, err := ca.EnsureLeaf(devpki.Leaf{Name: "w1", URIs: []string{clustertls.Identity{Role: clustertls.RoleWorker, ID: "w1"}.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	wsrc, err := clustertls.Load(clustertls.Files{CA: wf.CA, Cert: wf.Cert, Key: wf.Key}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	wclient := &http.Client{Transport: clustertls.Transport(wsrc.ClientConfig(clustertls.ExpectRole(clustertls.RoleDispatcher)))}
	join, err := clusterv1connect.NewMembershipServiceClient(wclient, csrv.URL()).Join(context.Background(),
		connect.NewRequest(&clusterv1.JoinRequest{WorkerId: "w1", Address: "https://127.0.0.1:1"}))
	if err != nil || join.Msg.GetJoined() == nil {
		t.Fatalf("join: %v %v", join, err)
	}
	if _, n := readyWorkers(t, url); n != 1 {
		t.Fatalf("/readyz lists %d workers after a join, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, n := readyWorkers(t, url); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the eviction loop did not evict a silent worker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.RequireStop()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the dispatcher still answers after its stop")
	}
}
