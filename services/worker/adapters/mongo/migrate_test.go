package mongo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// TestLegacyActionsAreMovedIntoTheirItems: a database of the previous model
// (the item document as the ItemAdded event, each action its own document
// in buy_actions, sell_actions, pawn_actions) reads back whole after the
// migration, the legacy collections are gone, and running it again is
// harmless.
func TestLegacyActionsAreMovedIntoTheirItems(t *testing.T) {
	ctx := context.Background()
	m, err := embedded.StartMongo(ctx, embedded.MongoConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	client, err := driver.Connect(options.Client().ApplyURI(m.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	db := client.Database("auction")
	// insert stores msg as the previous model did: the event itself, keyed by id.
	insert := func(coll, id string, msg proto.Message) {
		t.Helper()
		raw, err := protobson.MarshalWithID(id, msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection(coll).InsertOne(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	item := clock("old-1")
	insert("items", "old-1", &eventsv1.ItemAdded{Envelope: envelope("a0"), Item: item})
	for i, ev := range []string{"b2", "b1"} {
		insert("buy_actions", ev, &eventsv1.ItemBought{Envelope: envelope(ev),
			Buy: &auctionv1.Buy{ClientId: "c", ItemId: "old-1", PriceCents: 10, Date: ts(int64(2000 - i))}})
	}
	insert("pawn_actions", "p1", &eventsv1.ItemPawned{Envelope: envelope("p1"),
		Pawn: &auctionv1.Pawn{ClientId: "c", ItemId: "old-1", PriceCents: 30, LimitDays: 3, Date: ts(3000)}})

	s, err := mongo.Connect(ctx, m.URI(), "auction")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(ctx) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range 2 {
		if err := s.MigrateLegacyActions(ctx, log); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Item(ctx, "old-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetBuys()) != 2 || got.GetBuys()[0].GetDate().GetSeconds() != 1999 || len(got.GetPawns()) != 1 || got.GetItem().GetName() != "Clock" {
		t.Fatalf("after the migration: %v", got)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, legacy := range []string{"buy_actions", "sell_actions", "pawn_actions"} {
		if slices.Contains(names, legacy) {
			t.Errorf("%s is still there: %v", legacy, names)
		}
	}
}

// TestAnEventIDThatIsNotAFieldNameIsRejected: the event id names the
// history entry; one that would be a path or an operator is refused, never
// written.
func TestAnEventIDThatIsNotAFieldNameIsRejected(t *testing.T) {
	s := openStore(t)
	err := s.Save(context.Background(), app.KindBuy, []app.Document{buy("a.b", "i1", 1), buy("$set", "i1", 1), buy("ok", "i1", 1)})
	var rej *app.RejectedError
	if !errors.As(err, &rej) || len(rej.Rejections) != 2 || rej.Rejections[0].Reason != app.ReasonEncode {
		t.Fatalf("Save: %v", err)
	}
}
