// Package proto_test checks the protovalidate rules written in the contracts:
// each request and event accepts a well-formed value and names every field it
// refuses.
package proto_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// violations returns the sorted, distinct field paths that msg violates.
func violations(t *testing.T, msg proto.Message) []string {
	t.Helper()
	err := protovalidate.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("validate %T: %v", msg, err)
	}
	var fields []string
	for _, v := range verr.Violations {
		fields = append(fields, protovalidate.FieldPathString(v.Proto.GetField()))
	}
	slices.Sort(fields)
	return slices.Compact(fields) // an empty id breaks both min_len and pattern
}

func TestRules(t *testing.T) {
	now := timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	goodItem := &auctionv1.Item{Id: "item-1", Name: "Lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
		PriceCents: 1999, State: auctionv1.State_STATE_GOOD, AgeMonths: 12, CreatedAt: now}
	limit := func(n uint32) *uint32 { return &n }
	tests := []struct {
		name string
		msg  proto.Message
		want []string
	}{
		{"add item ok, id optional", &auctionv1.AddItemRequest{Name: "Lamp", Category: auctionv1.Category_CATEGORY_MOTOR,
			PriceCents: 1, State: auctionv1.State_STATE_NEW}, nil},
		{"add item: every bad field named", &auctionv1.AddItemRequest{Id: "bad id", Name: "",
			Category: auctionv1.Category(99), PriceCents: -5, AgeMonths: 20000},
			[]string{"age_months", "category", "id", "name", "price_cents", "state"}},
		{"buy ok without date", &auctionv1.BuyItemRequest{ClientId: "c-1", ItemId: "item-1", PriceCents: 10}, nil},
		{"buy: missing ids, zero price", &auctionv1.BuyItemRequest{},
			[]string{"client_id", "item_id", "price_cents"}},
		{"sell at a loss ok", &auctionv1.SellItemRequest{ClientId: "c", ItemId: "i", PriceCents: 10, ProfitCents: -3}, nil},
		{"pawn: limit and tax", &auctionv1.PawnItemRequest{ClientId: "c", ItemId: "i", PriceCents: 10, TaxCents: -1, LimitDays: 0},
			[]string{"limit_days", "tax_cents"}},
		{"get: id required", &auctionv1.GetItemRequest{}, []string{"id"}},
		{"list: a filter is required", &auctionv1.ListItemsRequest{}, []string{"filter"}},
		{"list by name ok", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Name{Name: "Lamp"}}, nil},
		{"list: limit 1..100", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_State{State: auctionv1.State_STATE_BAD},
			Limit: limit(101)}, []string{"limit"}},
		{"list: limit 0 refused when given", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Category{
			Category: auctionv1.Category_CATEGORY_UNSPECIFIED}, Limit: limit(0)}, []string{"category", "limit"}},
		{"item event ok", &eventsv1.ItemAdded{Envelope: &eventsv1.Envelope{EventId: "0b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10",
			AcceptedAt: now, RequestId: "r1"}, Item: goodItem}, nil},
		{"event: envelope and payload required", &eventsv1.ItemBought{}, []string{"buy", "envelope"}},
		{"event: nested rules apply", &eventsv1.ItemSold{Envelope: &eventsv1.Envelope{EventId: "nope", AcceptedAt: now, RequestId: "r"},
			Sell: &auctionv1.Sell{ClientId: "c", ItemId: "i", PriceCents: 1}},
			[]string{"envelope.event_id", "sell.date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(t, tt.msg); !slices.Equal(got, tt.want) {
				t.Fatalf("violations: got %q, want %q", got, tt.want)
			}
		})
	}
}
