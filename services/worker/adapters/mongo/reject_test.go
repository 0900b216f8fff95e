package mongo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestUnencodableDocumentIsRejectedAndTheRestStored: a buy dated
// seconds=1e12 (built directly, as a forged event that slipped past
// validation would be) cannot be a BSON date; Save stores the good buy of
// the same batch and reports the bad one as permanently rejected.
func TestUnencodableDocumentIsRejectedAndTheRestStored(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	buy := func(ev string, date *timestamppb.Timestamp) app.Document {
		return app.Document{ID: ev, ItemID: "i1", Msg: &eventsv1.ItemBought{Envelope: envelope(ev),
			Buy: &auctionv1.Buy{ClientId: "c", ItemId: "i1", PriceCents: 10, Date: date}}}
	}
	bad, good := buy("bad", &timestamppb.Timestamp{Seconds: 1e12}), buy("good", ts(2000))
	err := s.Save(ctx, app.KindBuy, []app.Document{bad, good})
	var rej *app.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Save: %v, want an *app.RejectedError", err)
	}
	if len(rej.Rejections) != 1 || rej.Rejections[0].ID != "bad" || rej.Rejections[0].Reason != app.ReasonEncode ||
		!strings.Contains(rej.Rejections[0].Err.Error(), "outside years 1 to 9999") {
		t.Fatalf("rejections %+v, want only the bad buy, reason encode", rej.Rejections)
	}
	if errors.Is(err, app.ErrBatchRejected) {
		t.Fatal("a rejection that names its document must not ask for the batch to be split")
	}
	if err := s.Save(ctx, app.KindItem, []app.Document{{ID: "e0", ItemID: "i1", Msg: &eventsv1.ItemAdded{Envelope: envelope("e0"),
		Item: &auctionv1.Item{Id: "i1", Name: "Clock", Category: auctionv1.Category_CATEGORY_COLLECTION, PriceCents: 5,
			State: auctionv1.State_STATE_GOOD, CreatedAt: ts(1000)}}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Item(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetBuys()) != 1 || got.GetBuys()[0].GetDate().GetSeconds() != 2000 {
		t.Fatalf("buys %v, want the good one stored", got.GetBuys())
	}
	// Saving the batch again (a redelivery) gives the same answer.
	if err := s.Save(ctx, app.KindBuy, []app.Document{bad, good}); !errors.As(err, &rej) || len(rej.Rejections) != 1 {
		t.Fatalf("second Save: %v", err)
	}
}

// TestOversizedDocumentIsRejected: an entry over MongoDB's 16 MiB document
// limit is rejected, never sent (the driver would fail the whole batch).
func TestOversizedDocumentIsRejected(t *testing.T) {
	s := openStore(t)
	huge := app.Document{ID: "eh", ItemID: "huge", Msg: &eventsv1.ItemAdded{Envelope: envelope("eh"), Item: &auctionv1.Item{Id: "huge",
		Name: strings.Repeat("x", 17<<20), Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: ts(1)}}}
	small := app.Document{ID: "es", ItemID: "small", Msg: &eventsv1.ItemAdded{Envelope: envelope("es"), Item: &auctionv1.Item{Id: "small",
		Name: "s", Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: ts(1)}}}
	err := s.Save(context.Background(), app.KindItem, []app.Document{huge, small})
	var rej *app.RejectedError
	if !errors.As(err, &rej) || len(rej.Rejections) != 1 || rej.Rejections[0].ID != "eh" || rej.Rejections[0].Reason != app.ReasonRejected {
		t.Fatalf("Save: %v, want the huge document rejected", err)
	}
	if _, err := s.Item(context.Background(), "small"); err != nil {
		t.Fatalf("the small document of the batch: %v", err)
	}
}
