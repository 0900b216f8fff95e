package ports

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// AuctionHandler serves auction.v1.AuctionService. It runs behind the
// pipeline (pipeline.go) on every protocol, REST included: requests arrive
// validated, and its errors are the use cases' own, mapped to API codes by
// the pipeline (errors.go).
type AuctionHandler struct {
	writes *app.Writes
	reads  *app.Reads
}

var _ auctionv1connect.AuctionServiceHandler = (*AuctionHandler)(nil)

// NewAuctionHandler returns the public API handler. The logger is not used:
// the pipeline logs errors with the request id (kept for the fx wiring).
func NewAuctionHandler(writes *app.Writes, reads *app.Reads, _ *slog.Logger) *AuctionHandler {
	return &AuctionHandler{writes: writes, reads: reads}
}

// writeStatusToProto converts the app's write status to the API enum.
func writeStatusToProto(s app.WriteStatus) auctionv1.WriteStatus {
	switch s {
	case app.Published:
		return auctionv1.WriteStatus_WRITE_STATUS_PUBLISHED
	case app.Buffered:
		return auctionv1.WriteStatus_WRITE_STATUS_BUFFERED
	}
	return auctionv1.WriteStatus_WRITE_STATUS_UNSPECIFIED
}

// AddItem implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) AddItem(ctx context.Context, req *connect.Request[auctionv1.AddItemRequest]) (*connect.Response[auctionv1.AddItemResponse], error) {
	r, err := h.writes.AddItem(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&auctionv1.AddItemResponse{ItemId: r.ItemID, EventId: r.EventID, WriteStatus: writeStatusToProto(r.Status)}), nil
}

// BuyItem implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) BuyItem(ctx context.Context, req *connect.Request[auctionv1.BuyItemRequest]) (*connect.Response[auctionv1.BuyItemResponse], error) {
	r, err := h.writes.BuyItem(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&auctionv1.BuyItemResponse{EventId: r.EventID, WriteStatus: writeStatusToProto(r.Status)}), nil
}

// SellItem implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) SellItem(ctx context.Context, req *connect.Request[auctionv1.SellItemRequest]) (*connect.Response[auctionv1.SellItemResponse], error) {
	r, err := h.writes.SellItem(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&auctionv1.SellItemResponse{EventId: r.EventID, WriteStatus: writeStatusToProto(r.Status)}), nil
}

// PawnItem implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) PawnItem(ctx context.Context, req *connect.Request[auctionv1.PawnItemRequest]) (*connect.Response[auctionv1.PawnItemResponse], error) {
	r, err := h.writes.PawnItem(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&auctionv1.PawnItemResponse{EventId: r.EventID, WriteStatus: writeStatusToProto(r.Status)}), nil
}

// GetItem implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) GetItem(ctx context.Context, req *connect.Request[auctionv1.GetItemRequest]) (*connect.Response[auctionv1.GetItemResponse], error) {
	item, err := h.reads.GetItem(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&auctionv1.GetItemResponse{Item: item}), nil
}

// ListItems implements auctionv1connect.AuctionServiceHandler.
func (h *AuctionHandler) ListItems(ctx context.Context, req *connect.Request[auctionv1.ListItemsRequest]) (*connect.Response[auctionv1.ListItemsResponse], error) {
	res, err := h.reads.ListItems(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}
