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

// Factory returns an app.ClientFactory over httpClient. Responses are not
// compressed: they are small and travel a fast network, where gzip is pure
// CPU cost.
func Factory(httpClient *http.Client) app.ClientFactory {
	return func(address string) app.WorkerClient {
		return &Client{c: clusterv1connect.NewWorkerServiceClient(httpClient, address, connect.WithAcceptCompression("gzip", nil, nil))}
	}
}

// Client adapts the generated Connect client to app.WorkerClient, mapping
// transport failures to app.ErrWorkerUnavailable and NotFound to app.ErrNotFound.
type Client struct {
	c clusterv1connect.WorkerServiceClient
}

func unary[Req, Res any](ctx context.Context, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (*Res, error) {
	res, err := f(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, mapError(err)
	}
	return res.Msg, nil
}

func mapError(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return fmt.Errorf("%w: %w", app.ErrNotFound, err)
	case connect.CodeDeadlineExceeded:
		return fmt.Errorf("%w: %w", app.ErrWorkerSlow, err)
	case connect.CodeUnavailable:
		return fmt.Errorf("%w: %w", app.ErrWorkerUnavailable, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", app.ErrWorkerUnavailable, err)
	}
	return fmt.Errorf("worker call: %w", err)
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
