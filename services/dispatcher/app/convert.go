package app

import (
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// itemFromRequest builds the stored item from an add request accepted at at;
// an empty id gets a new one.
func itemFromRequest(req *auctionv1.AddItemRequest, at time.Time) *auctionv1.Item {
	id := req.GetId()
	if id == "" {
		id = newEventID()
	}
	return &auctionv1.Item{
		Id:         id,
		Name:       req.GetName(),
		Category:   req.GetCategory(),
		PriceCents: req.GetPriceCents(),
		State:      req.GetState(),
		AgeMonths:  req.GetAgeMonths(),
		CreatedAt:  timestamppb.New(at),
	}
}

// buyFromRequest builds the buy action of a request accepted at at.
func buyFromRequest(req *auctionv1.BuyItemRequest, at time.Time) *auctionv1.Buy {
	return &auctionv1.Buy{
		ClientId:   req.GetClientId(),
		ItemId:     req.GetItemId(),
		PriceCents: req.GetPriceCents(),
		Date:       dateOr(req.GetDate(), at),
	}
}

// sellFromRequest builds the sell action of a request accepted at at.
func sellFromRequest(req *auctionv1.SellItemRequest, at time.Time) *auctionv1.Sell {
	return &auctionv1.Sell{
		ClientId:    req.GetClientId(),
		ItemId:      req.GetItemId(),
		PriceCents:  req.GetPriceCents(),
		Date:        dateOr(req.GetDate(), at),
		ProfitCents: req.GetProfitCents(),
	}
}

// pawnFromRequest builds the pawn action of a request accepted at at.
func pawnFromRequest(req *auctionv1.PawnItemRequest, at time.Time) *auctionv1.Pawn {
	return &auctionv1.Pawn{
		ClientId:   req.GetClientId(),
		ItemId:     req.GetItemId(),
		PriceCents: req.GetPriceCents(),
		TaxCents:   req.GetTaxCents(),
		Date:       dateOr(req.GetDate(), at),
		LimitDays:  req.GetLimitDays(),
	}
}
