package mongo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestAttachStopsWhenTheRequestEnds: reading a page's history fetches the
// cursor's later batches under the request's context, so a fetch that was
// cancelled stops at the end of the batch in hand instead of reading the
// whole cursor; with a live context the whole cursor is read.
func TestAttachStopsWhenTheRequestEnds(t *testing.T) {
	ctx := context.Background()
	m, err := embedded.StartMongo(ctx, embedded.MongoConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	s, err := Connect(ctx, m.URI(), "auction")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	const buys, batch = 10, 2
	var docs []app.Document
	for i := range buys {
		id := fmt.Sprintf("e%02d", i)
		docs = append(docs, app.Document{ID: id, Msg: &eventsv1.ItemBought{Envelope: &eventsv1.Envelope{EventId: id},
			Buy: &auctionv1.Buy{ClientId: "c", ItemId: "item-1", PriceCents: int64(i + 1)}}})
	}
	if err := s.Save(ctx, app.BuysCollection, docs); err != nil {
		t.Fatal(err)
	}
	attach := actionCollections[0]
	if attach.coll != app.BuysCollection {
		t.Fatalf("actionCollections[0] is %s, want %s", attach.coll, app.BuysCollection)
	}
	read := func(t *testing.T, ctx context.Context) (*auctionv1.ItemWithHistory, error) {
		cur, err := s.db.Collection(app.BuysCollection).Find(context.Background(), bson.D{},
			options.Find().SetBatchSize(batch).SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cur.Close(context.Background()) })
		it := &auctionv1.ItemWithHistory{Item: &auctionv1.Item{Id: "item-1"}}
		err = attach.attach(ctx, cur, map[string]*auctionv1.ItemWithHistory{"item-1": it})
		return it, err
	}

	t.Run("live", func(t *testing.T) {
		it, err := read(t, ctx)
		if err != nil || len(it.Buys) != buys {
			t.Fatalf("attach: %d buys, %v; want all %d", len(it.Buys), err, buys)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		it, err := read(t, cctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("attach with a cancelled context: %v, want context.Canceled", err)
		}
		if len(it.Buys) >= buys {
			t.Fatalf("attach read %d buys after the request ended, want only the first batch", len(it.Buys))
		}
	})
}
