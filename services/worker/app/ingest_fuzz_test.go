package app_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzIngest drives the worker's decode -> validate -> encode path: a batch
// holding an arbitrary record on one of the event topics, events of every
// topic whose timestamps take the fuzzed seconds and nanos (the full int64
// and int32 ranges), and a good event, goes through the real flows and an
// Ingest whose store encodes with protobson. Twice: with the contract's
// validation, and without it so that every timestamp reaches the encoder.
// Property: no panic, Store returns nil (it never waits on a record that
// can never be stored), and every record is either stored or dead-lettered.
func FuzzIngest(f *testing.F) {
	good, _ := proto.Marshal(buy(ev1, "i1"))
	for _, s := range []struct {
		topic uint8
		value []byte
		secs  int64
		nanos int32
	}{
		{1, good, 1700000000, 0},
		{0, []byte("\xff\xff not protobuf"), 1e12, 0},
		{1, nil, -62135596800, 0},
		{2, []byte{0x0a, 0x00}, 253402300799, 999999999},
		{3, good, 253402300800, 0},
		{1, good, math.MaxInt64, math.MaxInt32},
		{2, good, math.MinInt64, math.MinInt32},
		{0, good, 0, -1},
		{3, good, -1, 1e9},
	} {
		f.Add(s.topic, s.value, s.secs, s.nanos)
	}
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	// The flows with and without validation, by topic.
	flows := map[bool][]app.Inbound{true: app.Flows(testTopics, v), false: app.Flows(testTopics, acceptAll{})}
	byTopic := map[bool]map[string]app.Inbound{true: {}, false: {}}
	for validated, fs := range flows {
		for _, fl := range fs {
			byTopic[validated][fl.Topic()] = fl
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, topic uint8, value []byte, secs int64, nanos int32) {
		date := &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}
		env := func(id string) *eventsv1.Envelope {
			return &eventsv1.Envelope{EventId: id, AcceptedAt: date, RequestId: "r"}
		}
		batch := app.Batch{
			{Topic: testTopics.Events()[int(topic)%len(testTopics.Events())], Value: value},
			record(t, testTopics.Items, &eventsv1.ItemAdded{Envelope: env(eventID(1)), Item: &auctionv1.Item{Id: "i1", Name: "n",
				Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: date}}),
			record(t, testTopics.BuyActions, &eventsv1.ItemBought{Envelope: env(eventID(2)),
				Buy: &auctionv1.Buy{ClientId: "c", ItemId: "i1", PriceCents: 1, Date: date}}),
			record(t, testTopics.SellActions, &eventsv1.ItemSold{Envelope: env(eventID(3)),
				Sell: &auctionv1.Sell{ClientId: "c", ItemId: "i1", PriceCents: 1, Date: date}}),
			record(t, testTopics.PawnActions, &eventsv1.ItemPawned{Envelope: env(eventID(4)),
				Pawn: &auctionv1.Pawn{ClientId: "c", ItemId: "i1", PriceCents: 1, Date: date}}),
			record(t, testTopics.BuyActions, buy(eventID(5), "i1")),
		}
		for i := range batch {
			batch[i].Offset = int64(i)
		}
		for _, validated := range []bool{true, false} {
			store, dlq := newMemStore(), &fakeDLQ{}
			in := app.NewIngest(flows[validated], store, dlq, quiet)
			in.MinBackoff, in.MaxBackoff = time.Millisecond, 5*time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := in.Store(ctx, batch)
			cancel()
			if err != nil {
				t.Fatalf("validated=%v: Store: %v (a record blocked the batch)", validated, err)
			}
			for _, r := range batch {
				if slices.Contains(dlq.offsets, r.Offset) {
					continue
				}
				fl := byTopic[validated][r.Topic]
				doc, err := fl.Decode(r.Value)
				if err != nil {
					t.Fatalf("validated=%v: poison record %d (%s) neither stored nor dead-lettered: %v", validated, r.Offset, r.Topic, err)
				}
				if _, ok := store.stored[fl.Kind()][doc.ID]; !ok {
					t.Fatalf("validated=%v: record %d (%s, id %q) neither stored nor dead-lettered", validated, r.Offset, r.Topic, doc.ID)
				}
			}
			if ids := store.ids(app.KindBuy); !slices.Contains(ids, eventID(5)) {
				t.Fatalf("validated=%v: the good buy was not stored next to the others: %v (dead-lettered %v)", validated, ids, dlq.parked)
			}
		}
	})
}
