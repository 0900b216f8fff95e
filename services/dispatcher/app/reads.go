package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
)

// WorkerClient is the read API of one worker. Implementations return errors
// that wrap ErrNotFound for a missing item and ErrWorkerUnavailable when the
// worker cannot be reached or timed out.
type WorkerClient interface {
	FetchItem(context.Context, *clusterv1.FetchItemRequest) (*clusterv1.FetchItemResponse, error)
	FetchItemsByName(context.Context, *clusterv1.FetchItemsByNameRequest) (*clusterv1.FetchItemsByNameResponse, error)
	FetchItemsByCategory(context.Context, *clusterv1.FetchItemsByCategoryRequest) (*clusterv1.FetchItemsByCategoryResponse, error)
	FetchItemsByState(context.Context, *clusterv1.FetchItemsByStateRequest) (*clusterv1.FetchItemsByStateResponse, error)
}

// WorkerPool picks a worker for a read and hears about failed ones.
type WorkerPool interface {
	Pick(exclude string) (id string, client WorkerClient, ok bool)
	MarkDown(id string)
}

// DefaultPageSize is the page size of a listing that gives no limit.
const DefaultPageSize = 10

// Reads routes fetches to a random joined worker and retries once on another
// worker when the first is unavailable or too slow.
type Reads struct {
	pool           WorkerPool
	attemptTimeout time.Duration
}

// NewReads returns the read use cases. attemptTimeout bounds one call to one
// worker, so that a hung worker leaves time to try another.
func NewReads(pool WorkerPool, attemptTimeout time.Duration) *Reads {
	return &Reads{pool: pool, attemptTimeout: attemptTimeout}
}

// GetItem fetches one item with its history.
func (r *Reads) GetItem(ctx context.Context, id string) (*auctionv1.ItemWithHistory, error) {
	res, err := route(ctx, r, func(ctx context.Context, c WorkerClient) (*clusterv1.FetchItemResponse, error) {
		return c.FetchItem(ctx, &clusterv1.FetchItemRequest{Id: id})
	})
	if errors.Is(err, ErrNotFound) {
		return nil, &ItemNotFoundError{ID: id, Cause: err}
	}
	if err != nil {
		return nil, err
	}
	return res.GetItem(), nil
}

// ListItems fetches one page of items by name, category or state.
func (r *Reads) ListItems(ctx context.Context, req *auctionv1.ListItemsRequest) (*auctionv1.ListItemsResponse, error) {
	page := &clusterv1.Page{Limit: DefaultPageSize, Token: req.GetPageToken()}
	if req.Limit != nil {
		page.Limit = req.GetLimit()
	}
	type listing interface {
		GetItems() []*auctionv1.ItemWithHistory
		GetNextPageToken() string
	}
	var call func(context.Context, WorkerClient) (listing, error)
	switch f := req.GetFilter().(type) {
	case *auctionv1.ListItemsRequest_Name:
		call = func(ctx context.Context, c WorkerClient) (listing, error) {
			return c.FetchItemsByName(ctx, &clusterv1.FetchItemsByNameRequest{Name: f.Name, Page: page})
		}
	case *auctionv1.ListItemsRequest_Category:
		call = func(ctx context.Context, c WorkerClient) (listing, error) {
			return c.FetchItemsByCategory(ctx, &clusterv1.FetchItemsByCategoryRequest{Category: f.Category, Page: page})
		}
	case *auctionv1.ListItemsRequest_State:
		call = func(ctx context.Context, c WorkerClient) (listing, error) {
			return c.FetchItemsByState(ctx, &clusterv1.FetchItemsByStateRequest{State: f.State, Page: page})
		}
	default:
		return nil, fmt.Errorf("list items: no filter: %w", ErrInvalid)
	}
	res, err := route(ctx, r, call)
	if err != nil {
		return nil, err
	}
	return &auctionv1.ListItemsResponse{Items: res.GetItems(), NextPageToken: res.GetNextPageToken()}, nil
}

// route runs call on a random worker; when that worker is unavailable or
// exceeds the attempt timeout, call runs once more on another worker. Only an
// unavailable worker is marked down: a slow one (an overloaded database) stays
// in the quorum, so that slowness does not turn into an outage.
func route[T any](ctx context.Context, r *Reads, call func(context.Context, WorkerClient) (T, error)) (T, error) {
	var zero T
	tried := ""
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		id, client, ok := r.pool.Pick(tried)
		if !ok {
			if lastErr != nil {
				return zero, lastErr
			}
			return zero, ErrNoWorkers
		}
		actx, cancel := context.WithTimeout(ctx, r.attemptTimeout)
		res, err := call(actx, client)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return res, nil
		}
		unavailable := errors.Is(err, ErrWorkerUnavailable)
		if !unavailable && !timedOut && !errors.Is(err, ErrWorkerSlow) {
			return zero, err
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("read: %w", context.Cause(ctx))
		}
		if unavailable && !timedOut {
			r.pool.MarkDown(id)
			lastErr = fmt.Errorf("worker %s: %w: %w", id, ErrWorkerUnavailable, err)
		} else {
			lastErr = fmt.Errorf("worker %s: %w", id, ErrWorkerSlow)
		}
		tried = id
	}
	return zero, lastErr
}
