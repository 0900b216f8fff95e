package dispatcherconnect_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/worker/adapters/dispatcherconnect"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/types/known/durationpb"
)

// dispatcher is a MembershipService that counts its calls and answers
// with err when set.
type dispatcher struct {
	clusterv1connect.UnimplementedMembershipServiceHandler
	calls atomic.Int64
	err   atomic.Pointer[connect.Error]
	url   string
}

func (d *dispatcher) fail() error {
	d.calls.Add(1)
	if e := d.err.Load(); e != nil {
		return e
	}
	return nil
}

func (d *dispatcher) Join(context.Context, *connect.Request[clusterv1.JoinRequest]) (*connect.Response[clusterv1.JoinResponse], error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Joined{
		Joined: &clusterv1.Joined{HeartbeatInterval: durationpb.New(time.Second)}}}), nil
}

func (d *dispatcher) Heartbeat(context.Context, *connect.Request[clusterv1.HeartbeatRequest]) (*connect.Response[clusterv1.HeartbeatResponse], error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: true}), nil
}

func start(t testing.TB) *dispatcher {
	t.Helper()
	d := &dispatcher{}
	mux := http.NewServeMux()
	mux.Handle(clusterv1connect.NewMembershipServiceHandler(d))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	d.url = s.URL
	return d
}

// closedURL is a loopback URL nothing listens on.
func closedURL(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

var id = dispatcherconnect.Identity{WorkerID: "w1", Address: "http://127.0.0.1:9101"}

// TestFailsOverToTheNextDispatcher: a dispatcher that cannot be reached, or
// answers unavailable, is skipped; the client then sticks to the one that
// answered.
func TestFailsOverToTheNextDispatcher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, c := start(t), start(t)
	b.err.Store(connect.NewError(connect.CodeUnavailable, errors.New("registry down")))
	client := dispatcherconnect.New(http.DefaultClient, []string{closedURL(t), b.url, c.url}, id)
	if hb, err := client.Join(ctx); err != nil || hb != time.Second {
		t.Fatalf("join: %v %v", hb, err)
	}
	if b.calls.Load() != 1 || c.calls.Load() != 1 {
		t.Fatalf("calls b=%d c=%d, want one each", b.calls.Load(), c.calls.Load())
	}
	for range 3 {
		if known, err := client.Heartbeat(ctx); err != nil || !known {
			t.Fatalf("heartbeat: %v %v", known, err)
		}
	}
	if b.calls.Load() != 1 || c.calls.Load() != 4 {
		t.Fatalf("calls b=%d c=%d: the client must stick to c", b.calls.Load(), c.calls.Load())
	}
}

// TestARefusalIsNotRetriedElsewhere: an answer that is not about
// reachability (a bad token) comes back at once.
func TestARefusalIsNotRetriedElsewhere(t *testing.T) {
	a, b := start(t), start(t)
	a.err.Store(connect.NewError(connect.CodePermissionDenied, errors.New("wrong cluster token")))
	client := dispatcherconnect.New(http.DefaultClient, []string{a.url, b.url}, id)
	_, err := client.Heartbeat(context.Background())
	if connect.CodeOf(err) != connect.CodePermissionDenied || b.calls.Load() != 0 {
		t.Fatalf("heartbeat: %v, b called %d times", err, b.calls.Load())
	}
	a.err.Store(connect.NewError(connect.CodeInvalidArgument, errors.New("bad worker id")))
	_, err = client.Join(context.Background())
	if _, ok := errors.AsType[*app.Rejected](err); !ok || b.calls.Load() != 0 {
		t.Fatalf("join: %v, b called %d times", err, b.calls.Load())
	}
}

// TestAllDispatchersDown: every URL's failure is reported.
func TestAllDispatchersDown(t *testing.T) {
	u1, u2 := closedURL(t), closedURL(t)
	client := dispatcherconnect.New(http.DefaultClient, []string{u1, u2}, id)
	_, err := client.Heartbeat(context.Background())
	if err == nil || connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("heartbeat: %v", err)
	}
	for _, u := range []string{u1, u2} {
		if !contains(err.Error(), u) {
			t.Errorf("error %q does not name %s", err, u)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}
