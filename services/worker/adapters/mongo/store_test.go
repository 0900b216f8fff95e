package mongo_test

import (
	"context"
	"testing"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func openStore(t testing.TB) *mongo.Store {
	t.Helper()
	ctx := context.Background()
	m, err := embedded.StartMongo(ctx, embedded.MongoConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	s, err := mongo.Connect(ctx, m.URI(), "auction")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	// Twice: a restarted worker ensures indexes that already exist.
	for range 2 {
		if err := s.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func ts(sec int64) *timestamppb.Timestamp { return timestamppb.New(time.Unix(sec, 0)) }

func envelope(id string) *eventsv1.Envelope {
	return &eventsv1.Envelope{EventId: id, AcceptedAt: ts(100), RequestId: "r"}
}

func TestSaveIsIdempotentAndHistoryIsAttached(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	item := &auctionv1.Item{Id: "i1", Name: "Clock", Category: auctionv1.Category_CATEGORY_COLLECTION, PriceCents: 500,
		State: auctionv1.State_STATE_GOOD, AgeMonths: 3, CreatedAt: ts(1000)}
	added := app.Document{ID: "i1", Msg: &eventsv1.ItemAdded{Envelope: envelope("e0"), Item: item}}
	buy := func(ev string, at int64) app.Document {
		return app.Document{ID: ev, Msg: &eventsv1.ItemBought{Envelope: envelope(ev),
			Buy: &auctionv1.Buy{ClientId: "c", ItemId: "i1", PriceCents: 10, Date: ts(at)}}}
	}
	// The same events delivered twice, the second time in one batch with a new one.
	for _, batch := range [][]app.Document{{added}, {added}} {
		if err := s.Save(ctx, app.ItemsCollection, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(ctx, app.BuysCollection, []app.Document{buy("e2", 2000), buy("e1", 1500)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, app.BuysCollection, []app.Document{buy("e1", 1500)}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Item(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetItem(), item) {
		t.Errorf("item round trip:\n got %v\nwant %v", got.GetItem(), item)
	}
	if len(got.GetBuys()) != 2 {
		t.Fatalf("redelivered buy stored twice or lost: %d buys", len(got.GetBuys()))
	}
	if got.GetBuys()[0].GetDate().GetSeconds() != 1500 {
		t.Errorf("history not oldest first: %v", got.GetBuys())
	}
	if _, err := s.Item(ctx, "missing"); err != app.ErrNotFound {
		t.Errorf("missing item: %v, want ErrNotFound", err)
	}
}

func TestQueriesMatchValuesLiterally(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	var docs []app.Document
	for _, n := range []string{`{"$ne": null}`, "plain"} {
		docs = append(docs, app.Document{ID: n, Msg: &eventsv1.ItemAdded{Envelope: envelope("e-" + n),
			Item: &auctionv1.Item{Id: n, Name: n, Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: ts(1)}}})
	}
	if err := s.Save(ctx, app.ItemsCollection, docs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Items(ctx, app.Filter{Name: `{"$ne": null}`}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetItem().GetName() != `{"$ne": null}` {
		t.Fatalf("operator-looking name matched %d items: %v", len(got), got)
	}
	got, err = s.Items(ctx, app.Filter{Category: auctionv1.Category_CATEGORY_MOTOR}, "plain", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetItem().GetId() != `{"$ne": null}` {
		t.Fatalf("paging after an id: %v", got)
	}
}
