// Package dispatcherconnect calls the dispatcher's MembershipService over
// Connect on behalf of one worker.
package dispatcherconnect

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/worker/app"
	"time"
)

// Identity is who the worker is and where it serves.
type Identity struct {
	WorkerID     string
	Address      string
	ClusterToken string
}

// Client implements app.Dispatcher.
type Client struct {
	c  clusterv1connect.MembershipServiceClient
	id Identity
}

var _ app.Dispatcher = (*Client)(nil)

// New returns a client of the dispatcher at baseURL.
func New(httpClient *http.Client, baseURL string, id Identity) *Client {
	return &Client{c: clusterv1connect.NewMembershipServiceClient(httpClient, baseURL), id: id}
}

// Join implements app.Dispatcher.
func (c *Client) Join(ctx context.Context) (time.Duration, error) {
	res, err := c.c.Join(ctx, connect.NewRequest(&clusterv1.JoinRequest{
		WorkerId: c.id.WorkerID, Address: c.id.Address, ClusterToken: c.id.ClusterToken}))
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
	res, err := c.c.Heartbeat(ctx, connect.NewRequest(&clusterv1.HeartbeatRequest{WorkerId: c.id.WorkerID, ClusterToken: c.id.ClusterToken}))
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return res.Msg.GetKnown(), nil
}

// Leave implements app.Dispatcher.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.c.Leave(ctx, connect.NewRequest(&clusterv1.LeaveRequest{WorkerId: c.id.WorkerID, ClusterToken: c.id.ClusterToken}))
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}
