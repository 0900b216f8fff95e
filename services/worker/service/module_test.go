package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/worker/config"
	worker "github.com/pawnshop/auction/services/worker/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fakeDispatcher answers the membership RPCs: it admits or rejects joins
// and reports each join and leave.
type fakeDispatcher struct {
	clusterv1connect.UnimplementedMembershipServiceHandler
	reject bool
	joins  chan string
	leaves chan string
}

func (d *fakeDispatcher) Join(_ context.Context, req *connect.Request[clusterv1.JoinRequest]) (*connect.Response[clusterv1.JoinResponse], error) {
	d.joins <- req.Msg.GetAddress()
	if d.reject {
		return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Rejected{Rejected: &clusterv1.Rejected{
			Reason: clusterv1.RejectReason_REJECT_REASON_BAD_TOKEN, Message: "wrong token"}}}), nil
	}
	return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Joined{Joined: &clusterv1.Joined{
		HeartbeatInterval: durationpb.New(50 * time.Millisecond)}}}), nil
}

func (d *fakeDispatcher) Heartbeat(context.Context, *connect.Request[clusterv1.HeartbeatRequest]) (*connect.Response[clusterv1.HeartbeatResponse], error) {
	return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: true}), nil
}

func (d *fakeDispatcher) Leave(_ context.Context, req *connect.Request[clusterv1.LeaveRequest]) (*connect.Response[clusterv1.LeaveResponse], error) {
	d.leaves <- req.Msg.GetWorkerId()
	return connect.NewResponse(&clusterv1.LeaveResponse{}), nil
}

// backends are the embedded Kafka and MongoDB, shared by the tests of the
// package (FerretDB takes a moment to start).
type backends struct{ brokers, mongoURI string }

func startBackends(t *testing.T) backends {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := embedded.StartKafka(ctx, embedded.KafkaConfig{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	m, err := embedded.StartMongo(ctx, embedded.MongoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return backends{brokers: k.Brokers(), mongoURI: m.URI()}
}

// testClusterName is the deployment the tests' workers belong to.
const testClusterName = "shop-2"

// newWorker builds a worker the way the binary and the dev stack do, under
// fxtest, against b and a fake dispatcher d.
func newWorker(t *testing.T, b backends, d *fakeDispatcher, populate ...any) *fxtest.App {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(clusterv1connect.NewMembershipServiceHandler(d))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg, err := service.Load(config.Load, envconfig.FromMap(map[string]string{
		"WORKER_ID": "w1", "HTTP_ADDR": "127.0.0.1:0", "DISPATCHER_URL": srv.URL, "AUTH_MODE": "none", "CLUSTER_TOKEN": strings.Repeat("t", 32),
		"KAFKA_BROKERS": b.brokers, "TOPIC_PARTITIONS": "1", "MONGO_URI": b.mongoURI, "MONGO_DATABASE": "fxtest",
		"CLUSTER_NAME": testClusterName,
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	return fxtest.New(t, service.Options(worker.App(cfg, log), log, reg, reg, fx.Populate(populate...)))
}

func receive(t *testing.T, ch chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s", what)
		return ""
	}
}

// TestWorkerJoinsServesFromMongoAndLeavesOnStop: started, the worker
// connects MongoDB, joins at its bound address and serves reads from the
// store; stopped, its loops end, it leaves the quorum and its port closes.
func TestWorkerJoinsServesFromMongoAndLeavesOnStop(t *testing.T) {
	b := startBackends(t)
	d := &fakeDispatcher{joins: make(chan string, 10), leaves: make(chan string, 10)}
	var srv *worker.Server
	a := newWorker(t, b, d, &srv)
	a.RequireStart()
	addr := receive(t, d.joins, "join")
	if addr != srv.URL() {
		t.Fatalf("joined as %q, but the server is at %q", addr, srv.URL())
	}
	client := clusterv1connect.NewWorkerServiceClient(http.DefaultClient, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for { // the server serves once the join's answer is processed
		_, err = client.FetchItem(ctx, connect.NewRequest(&clusterv1.FetchItemRequest{Id: "no-such-item"}))
		if connect.CodeOf(err) != connect.CodeUnavailable && connect.CodeOf(err) != connect.CodeUnknown || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("FetchItem of an unknown item: %v, want not_found from the store", err)
	}
	a.RequireStop()
	if id := receive(t, d.leaves, "leave"); id != "w1" {
		t.Errorf("left as %q", id)
	}
	if _, err := client.FetchItem(context.Background(), connect.NewRequest(&clusterv1.FetchItemRequest{Id: "x"})); err == nil {
		t.Error("the worker still serves after its stop")
	}
}

// TestARejectedJoinShutsTheWorkerDownWithExitRejected: the membership loop's
// rejection stops the application with exit code 3, and the worker, never
// joined, does not leave.
func TestARejectedJoinShutsTheWorkerDownWithExitRejected(t *testing.T) {
	b := startBackends(t)
	d := &fakeDispatcher{reject: true, joins: make(chan string, 10), leaves: make(chan string, 10)}
	a := newWorker(t, b, d)
	a.RequireStart()
	select {
	case sig := <-a.Wait():
		if sig.ExitCode != worker.ExitRejected {
			t.Fatalf("exit code %d, want %d", sig.ExitCode, worker.ExitRejected)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a rejected worker did not shut down")
	}
	a.RequireStop()
	if len(d.leaves) != 0 {
		t.Error("a worker that never joined left")
	}
}
