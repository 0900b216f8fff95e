// Package workerconnect calls the workers' WorkerService over Connect.
package workerconnect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// NewHTTPClient returns the HTTP client shared by all worker clients: pooled
// keep-alive connections, bounded dials.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// DefaultMaxResponseBytes is the largest worker answer read by default: a
// page of 100 items (the largest page) whose histories hold a few hundred
// actions each (about 100 bytes per action in protobuf) stays well under it,
// while a runaway or hostile worker cannot make the dispatcher buffer
// hundreds of megabytes.
const DefaultMaxResponseBytes = 32 << 20

// Factory returns an app.ClientFactory over httpClient, shared by every
// worker (plain HTTP/1.1, AUTH_MODE=none without cluster TLS). Responses are not
// compressed: they are small and travel a fast network, where gzip is pure
// CPU cost. A response larger than maxResponseBytes (0: the default) is
// refused with app.ErrWorkerAnswerTooLarge, not buffered.
func Factory(httpClient *http.Client, maxResponseBytes int64) app.ClientFactory {
	return PerWorker(func(string) *http.Client { return httpClient }, maxResponseBytes)
}

// TLSFactory returns an app.ClientFactory under mutual TLS: each worker gets
// its own HTTP client that presents the dispatcher's certificate and accepts
// only a server whose certificate, from the cluster CA, names that worker's
// id, wherever its address points.
func TLSFactory(src *clustertls.Source, maxResponseBytes int64) app.ClientFactory {
	return PerWorker(func(id string) *http.Client {
		return &http.Client{Transport: clustertls.Transport(src.ClientConfig(
			clustertls.Expect(clustertls.Identity{Role: clustertls.RoleWorker, ID: id})))}
	}, maxResponseBytes)
}

// PerWorker returns an app.ClientFactory whose HTTP client for a worker
// comes from httpClient(id).
func PerWorker(httpClient func(id string) *http.Client, maxResponseBytes int64) app.ClientFactory {
	if maxResponseBytes <= 0 {
		maxResponseBytes = DefaultMaxResponseBytes
	}
	return func(id, address string) app.WorkerClient {
		return &Client{c: clusterv1connect.NewWorkerServiceClient(httpClient(id), address,
			connect.WithAcceptCompression("gzip", nil, nil), connect.WithReadMaxBytes(int(maxResponseBytes)))}
	}
}

// Client adapts the generated Connect client to app.WorkerClient. Every error
// it returns wraps one of the app's errors, so that a worker's own message
// (an address, a driver error) never reaches a client as-is.
type Client struct {
	c clusterv1connect.WorkerServiceClient
}

func unary[Req, Res any](ctx context.Context, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (*Res, error) {
	res, err := f(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, toAppError(err)
	}
	return res.Msg, nil
}

// toAppError translates a worker call's error into the app's errors, as an
// adapter does for its use cases; it is not a mapping to API codes (clients
// never see a worker's code or message: ports/errors.go maps the app's
// errors, and only those). NotFound is a missing item, InvalidArgument a
// page token the worker refused, DeadlineExceeded a slow worker; Unavailable, a transport failure or
// Unimplemented (an HTTP 404: no worker at that address) an unavailable
// worker, tried elsewhere (so is a worker that says it is exhausted); an
// answer over our read cap its own error; anything else a worker failure.
func toAppError(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return fmt.Errorf("%w: %w", app.ErrNotFound, err)
	case connect.CodeInvalidArgument:
		return fmt.Errorf("%w: %w", app.ErrBadPageToken, err)
	case connect.CodeDeadlineExceeded:
		return fmt.Errorf("%w: %w", app.ErrWorkerSlow, err)
	case connect.CodeUnavailable, connect.CodeUnimplemented:
		return fmt.Errorf("%w: %w", app.ErrWorkerUnavailable, err)
	case connect.CodeResourceExhausted:
		if !connect.IsWireError(err) { // our own read cap, not the worker's answer
			return fmt.Errorf("%w: %w", app.ErrWorkerAnswerTooLarge, err)
		}
		return fmt.Errorf("%w: %w", app.ErrWorkerUnavailable, err)
	case connect.CodeCanceled:
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("worker call: %w", err)
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", app.ErrWorkerUnavailable, err)
	}
	return fmt.Errorf("%w: %w", app.ErrWorkerFailed, err)
}

// FetchItem implements app.WorkerClient.
func (c *Client) FetchItem(ctx context.Context, r *clusterv1.FetchItemRequest) (*clusterv1.FetchItemResponse, error) {
	return unary(ctx, c.c.FetchItem, r)
}

// FetchItemsByName implements app.WorkerClient.
func (c *Client) FetchItemsByName(ctx context.Context, r *clusterv1.FetchItemsByNameRequest) (*clusterv1.FetchItemsByNameResponse, error) {
	return unary(ctx, c.c.FetchItemsByName, r)
}

// FetchItemsByCategory implements app.WorkerClient.
func (c *Client) FetchItemsByCategory(ctx context.Context, r *clusterv1.FetchItemsByCategoryRequest) (*clusterv1.FetchItemsByCategoryResponse, error) {
	return unary(ctx, c.c.FetchItemsByCategory, r)
}

// FetchItemsByState implements app.WorkerClient.
func (c *Client) FetchItemsByState(ctx context.Context, r *clusterv1.FetchItemsByStateRequest) (*clusterv1.FetchItemsByStateResponse, error) {
	return unary(ctx, c.c.FetchItemsByState, r)
}
