// Package ports serves the worker's WorkerService to the dispatcher.
package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/worker/app"
)

// WorkerHandler implements clusterv1connect.WorkerServiceHandler over the
// fetch use cases.
type WorkerHandler struct {
	fetch *app.Fetch
	log   *slog.Logger
}

var _ clusterv1connect.WorkerServiceHandler = (*WorkerHandler)(nil)

// NewWorkerHandler returns the handler.
func NewWorkerHandler(fetch *app.Fetch, log *slog.Logger) *WorkerHandler {
	return &WorkerHandler{fetch: fetch, log: log}
}

// errorTable maps the fetch use cases' errors to Connect codes, in one
// place. The message a row sends is the target's own; the wrapped cause (a
// driver message) stays in the logs. Any other error is a storage failure:
// Unavailable, so that the dispatcher tries another worker.
var errorTable = []struct {
	target error
	code   connect.Code
	msg    string // "" for the target's own message
}{
	{app.ErrNotFound, connect.CodeNotFound, ""},
	{app.ErrBadPageToken, connect.CodeInvalidArgument, ""},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded, "the fetch took longer than its deadline"},
	{context.Canceled, connect.CodeCanceled, "the fetch was canceled"},
}

// toConnectError maps the worker's errors to Connect codes (errorTable).
func (h *WorkerHandler) toConnectError(ctx context.Context, err error) error {
	for _, row := range errorTable {
		if errors.Is(err, row.target) {
			msg := row.msg
			if msg == "" {
				msg = row.target.Error()
			}
			return connect.NewError(row.code, errors.New(msg))
		}
	}
	h.log.ErrorContext(ctx, "fetch failed", "err", err)
	return connect.NewError(connect.CodeUnavailable, errors.New("storage is unavailable"))
}

// FetchItem implements clusterv1connect.WorkerServiceHandler.
func (h *WorkerHandler) FetchItem(ctx context.Context, req *connect.Request[clusterv1.FetchItemRequest]) (*connect.Response[clusterv1.FetchItemResponse], error) {
	item, err := h.fetch.Item(ctx, req.Msg.GetId())
	if err != nil {
		return nil, h.toConnectError(ctx, fmt.Errorf("fetch item %q: %w", req.Msg.GetId(), err))
	}
	return connect.NewResponse(&clusterv1.FetchItemResponse{Item: item}), nil
}

func (h *WorkerHandler) page(ctx context.Context, f app.Filter, p *clusterv1.Page) (app.Page, error) {
	page, err := h.fetch.Items(ctx, f, int(p.GetLimit()), p.GetToken())
	if err != nil {
		return app.Page{}, h.toConnectError(ctx, err)
	}
	return page, nil
}

// FetchItemsByName implements clusterv1connect.WorkerServiceHandler.
func (h *WorkerHandler) FetchItemsByName(ctx context.Context, req *connect.Request[clusterv1.FetchItemsByNameRequest]) (*connect.Response[clusterv1.FetchItemsByNameResponse], error) {
	p, err := h.page(ctx, app.Filter{Name: req.Msg.GetName()}, req.Msg.GetPage())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.FetchItemsByNameResponse{Items: p.Items, NextPageToken: p.Next}), nil
}

// FetchItemsByCategory implements clusterv1connect.WorkerServiceHandler.
func (h *WorkerHandler) FetchItemsByCategory(ctx context.Context, req *connect.Request[clusterv1.FetchItemsByCategoryRequest]) (*connect.Response[clusterv1.FetchItemsByCategoryResponse], error) {
	p, err := h.page(ctx, app.Filter{Category: req.Msg.GetCategory()}, req.Msg.GetPage())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.FetchItemsByCategoryResponse{Items: p.Items, NextPageToken: p.Next}), nil
}

// FetchItemsByState implements clusterv1connect.WorkerServiceHandler.
func (h *WorkerHandler) FetchItemsByState(ctx context.Context, req *connect.Request[clusterv1.FetchItemsByStateRequest]) (*connect.Response[clusterv1.FetchItemsByStateResponse], error) {
	p, err := h.page(ctx, app.Filter{State: req.Msg.GetState()}, req.Msg.GetPage())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.FetchItemsByStateResponse{Items: p.Items, NextPageToken: p.Next}), nil
}
