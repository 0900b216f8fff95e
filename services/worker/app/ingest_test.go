package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type fakeStore struct {
	mu       sync.Mutex
	failures int // fail this many calls first
	saved    map[app.Kind][]string
	order    []app.Kind // of the successful calls
}

func (s *fakeStore) Save(_ context.Context, coll app.Kind, docs []app.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("mongodb: connection refused")
	}
	for _, d := range docs {
		s.saved[coll] = append(s.saved[coll], d.ID)
	}
	s.order = append(s.order, coll)
	return nil
}

type fakeDLQ struct {
	mu      sync.Mutex
	parked  []string
	reasons []app.Reason
	offsets []int64
}

func (d *fakeDLQ) DeadLetter(_ context.Context, r app.Record, why *app.PoisonError) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.parked = append(d.parked, r.Topic+": "+why.Error())
	d.reasons = append(d.reasons, why.Reason)
	d.offsets = append(d.offsets, r.Offset)
	return nil
}

// testTopics are the topics of the deployment these tests ingest: the flows
// match records by their full topic name, "<CLUSTER_NAME>.items", ...
var testTopics = topics.For(clustername.MustParse("shop-2"))

func newIngest(t testing.TB, store app.Store, dlq app.DeadLetters) *app.Ingest {
	t.Helper()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	in := app.NewIngest(app.Flows(testTopics, v), store, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)))
	in.MinBackoff, in.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return in
}

func record(t testing.TB, topic string, m proto.Message) app.Record {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return app.Record{Topic: topic, Value: b}
}

func buy(eventID, item string) *eventsv1.ItemBought {
	now := timestamppb.New(time.Unix(1700000000, 0))
	return &eventsv1.ItemBought{
		Envelope: &eventsv1.Envelope{EventId: eventID, AcceptedAt: now, RequestId: "r"},
		Buy:      &auctionv1.Buy{ClientId: "c", ItemId: item, PriceCents: 5, Date: now},
	}
}

const (
	ev1 = "0b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10"
	ev2 = "1b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10"
)

func TestPoisonRecordsAreDeadLetteredAndIngestGoesOn(t *testing.T) {
	store, dlq := &fakeStore{saved: map[app.Kind][]string{}}, &fakeDLQ{}
	invalid := buy("not-a-uuid", "i1")
	batch := app.Batch{
		{Topic: testTopics.BuyActions, Value: []byte("\xff\xff not protobuf")},
		record(t, testTopics.BuyActions, invalid),
		record(t, testTopics.BuyActions, buy(ev1, "i1")),
	}
	if err := newIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(dlq.parked) != 2 || dlq.reasons[0] != app.ReasonDecode || dlq.reasons[1] != app.ReasonInvalid {
		t.Fatalf("dead-lettered %v %v, want the undecodable (decode) and the invalid (invalid) record", dlq.parked, dlq.reasons)
	}
	if got := store.saved[app.KindBuy]; len(got) != 1 || got[0] != ev1 {
		t.Fatalf("stored %v, want the valid event only", got)
	}
}

func TestTransientStoreErrorsAreRetriedNotDeadLettered(t *testing.T) {
	store, dlq := &fakeStore{failures: 3, saved: map[app.Kind][]string{}}, &fakeDLQ{}
	batch := app.Batch{record(t, testTopics.BuyActions, buy(ev1, "i1")), record(t, testTopics.BuyActions, buy(ev2, "i1")),
		record(t, testTopics.BuyActions, buy(ev1, "i1"))} // a redelivery inside the batch
	if err := newIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(dlq.parked) != 0 {
		t.Fatalf("a store failure must never dead-letter: %v", dlq.parked)
	}
	if got := store.saved[app.KindBuy]; len(got) != 2 {
		t.Fatalf("stored %v, want both events once", got)
	}
}

func TestStoreGivesUpOnlyWhenStopped(t *testing.T) {
	store := &fakeStore{failures: 1 << 30, saved: map[app.Kind][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := newIngest(t, store, &fakeDLQ{}).Store(ctx, app.Batch{record(t, testTopics.BuyActions, buy(ev1, "i1"))})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error so the batch is not committed", err)
	}
}

// TestItemsAreWrittenFirst: whatever the order of a batch's records, its
// items are written before its actions, so that an item's document exists
// (inserted whole) before the batch's actions update it.
func TestItemsAreWrittenFirst(t *testing.T) {
	now := timestamppb.New(time.Unix(1700000000, 0))
	store := &fakeStore{saved: map[app.Kind][]string{}}
	in := newIngest(t, store, &fakeDLQ{})
	b := app.Batch{
		record(t, testTopics.BuyActions, buy(ev1, "i1")),
		record(t, testTopics.Items, &eventsv1.ItemAdded{Envelope: &eventsv1.Envelope{EventId: ev2, AcceptedAt: now, RequestId: "r"},
			Item: &auctionv1.Item{Id: "i1", Name: "n", Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: now}}),
	}
	if err := in.Store(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if want := []app.Kind{app.KindItem, app.KindBuy}; !slices.Equal(store.order, want) {
		t.Fatalf("kinds written in the order %v, want %v", store.order, want)
	}
}
