// Package dispatcherconnect calls the dispatchers' MembershipService over
// Connect on behalf of one worker.
package dispatcherconnect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/worker/app"
)

// Identity is who the worker is and where it serves.
type Identity struct {
	WorkerID     string
	Address      string
	ClusterToken string
}

// Client implements app.Dispatcher over one or more dispatcher URLs. All
// dispatchers of a deployment share the workers' registry, so any of them
// can take a join or a heartbeat: the client sticks to the one that last
// answered and moves to the next when it cannot be reached. (Behind a
// Kubernetes Service, one URL is enough.)
type Client struct {
	urls    []string
	clients []clusterv1connect.MembershipServiceClient
	cur     atomic.Int64
	id      Identity
}

var _ app.Dispatcher = (*Client)(nil)

// New returns a client of the dispatchers at baseURLs (at least one).
func New(httpClient *http.Client, baseURLs []string, id Identity) *Client {
	c := &Client{urls: baseURLs, id: id}
	for _, u := range baseURLs {
		c.clients = append(c.clients, clusterv1connect.NewMembershipServiceClient(httpClient, u))
	}
	return c
}

// unreachable reports whether err means that dispatcher could not answer
// (down, overloaded, its registry unreachable, too slow), so that another
// one should be tried.
func unreachable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeResourceExhausted:
		return true
	}
	return false
}

// call runs f on the current dispatcher and, while it cannot be reached, on
// the next ones, each with an equal share of what is left of ctx's deadline.
func call[T any](ctx context.Context, c *Client, f func(context.Context, clusterv1connect.MembershipServiceClient) (T, error)) (T, error) {
	var zero T
	start := int(c.cur.Load())
	var errs []error
	for i := range len(c.clients) {
		k := (start + i) % len(c.clients)
		actx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok && len(c.clients)-i > 1 {
			actx, cancel = context.WithTimeout(ctx, time.Until(d)/time.Duration(len(c.clients)-i))
		}
		res, err := f(actx, c.clients[k])
		cancel()
		if err == nil {
			c.cur.Store(int64(k))
			return res, nil
		}
		errs = append(errs, fmt.Errorf("dispatcher %s: %w", c.urls[k], err))
		if !unreachable(err) || ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return zero, errs[0]
	}
	return zero, errors.Join(errs...)
}

// Join implements app.Dispatcher.
func (c *Client) Join(ctx context.Context) (time.Duration, error) {
	res, err := call(ctx, c, func(ctx context.Context, mc clusterv1connect.MembershipServiceClient) (*connect.Response[clusterv1.JoinResponse], error) {
		return mc.Join(ctx, connect.NewRequest(&clusterv1.JoinRequest{
			WorkerId: c.id.WorkerID, Address: c.id.Address, ClusterToken: c.id.ClusterToken}))
	})
	if err != nil {
		if connect.CodeOf(err) == connect.CodeInvalidArgument {
			// The dispatcher refused the request itself (bad id or address form):
			// retrying cannot help.
			return 0, &app.Rejected{Reason: err.Error()}
		}
		return 0, fmt.Errorf("join: %w", err)
	}
	switch r := res.Msg.GetResult().(type) {
	case *clusterv1.JoinResponse_Joined:
		return r.Joined.GetHeartbeatInterval().AsDuration(), nil
	case *clusterv1.JoinResponse_Rejected:
		return 0, &app.Rejected{Reason: fmt.Sprintf("%s: %s", r.Rejected.GetReason(), r.Rejected.GetMessage())}
	}
	return 0, fmt.Errorf("join: empty answer")
}

// Heartbeat implements app.Dispatcher.
func (c *Client) Heartbeat(ctx context.Context) (bool, error) {
	res, err := call(ctx, c, func(ctx context.Context, mc clusterv1connect.MembershipServiceClient) (*connect.Response[clusterv1.HeartbeatResponse], error) {
		return mc.Heartbeat(ctx, connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: c.id.WorkerID, ClusterToken: c.id.ClusterToken}))
	})
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return res.Msg.GetKnown(), nil
}

// Leave implements app.Dispatcher.
func (c *Client) Leave(ctx context.Context) error {
	_, err := call(ctx, c, func(ctx context.Context, mc clusterv1connect.MembershipServiceClient) (*connect.Response[clusterv1.LeaveResponse], error) {
		return mc.Leave(ctx, connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: c.id.WorkerID, ClusterToken: c.id.ClusterToken}))
	})
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}
