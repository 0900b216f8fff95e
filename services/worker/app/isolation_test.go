package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// memStore is an in-memory app.Store that behaves like the MongoDB one:
// each document is encoded with protobson.Marshal and an unencodable one is
// rejected (ReasonEncode) while the others are stored, the first delivery
// of an id wins. It can also fail transiently, and refuse as a whole
// (app.ErrBatchRejected) any batch holding one of refuse.
type memStore struct {
	mu        sync.Mutex
	transient int             // fail this many calls first
	refuse    map[string]bool // ids the database refuses without naming them
	calls     int
	stored    map[app.Kind]map[string][]byte // kind -> event id -> document
}

func newMemStore() *memStore {
	return &memStore{stored: map[app.Kind]map[string][]byte{}, refuse: map[string]bool{}}
}

func (s *memStore) Save(_ context.Context, coll app.Kind, docs []app.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.transient > 0 {
		s.transient--
		return errors.New("server selection error: connection refused")
	}
	for _, d := range docs {
		if s.refuse[d.ID] {
			return fmt.Errorf("insert: %w: (BadValue) invalid document", app.ErrBatchRejected)
		}
	}
	var rej []app.Rejection
	if s.stored[coll] == nil {
		s.stored[coll] = map[string][]byte{}
	}
	for _, d := range docs {
		raw, err := protobson.Marshal(d.Msg)
		if err != nil {
			rej = append(rej, app.Rejection{ID: d.ID, Reason: app.ReasonEncode, Err: err})
			continue
		}
		if _, ok := s.stored[coll][d.ID]; !ok {
			s.stored[coll][d.ID] = raw
		}
	}
	if len(rej) > 0 {
		return &app.RejectedError{Rejections: rej}
	}
	return nil
}

func (s *memStore) ids(coll app.Kind) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.stored[coll] {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// acceptAll is a validator that lets everything through, so that the
// encode path is reached whatever the contract's rules say about dates.
type acceptAll struct{}

func (acceptAll) Validate(proto.Message, ...protovalidate.ValidationOption) error { return nil }

// newUnvalidatedIngest is an Ingest whose flows skip validation.
func newUnvalidatedIngest(t testing.TB, store app.Store, dlq app.DeadLetters) *app.Ingest {
	t.Helper()
	in := app.NewIngest(app.Flows(testTopics, acceptAll{}), store, dlq, slog.New(slog.NewTextHandler(io.Discard, nil)))
	in.MinBackoff, in.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return in
}

func eventID(i int) string { return fmt.Sprintf("%08d-2f58-4f7e-9a43-7f1d2c1e5a10", i) }

// farFuture is a buy dated seconds=1e12 (year ~33658): it decodes, and
// protobson cannot encode it as a BSON date.
func farFuture(id string) *eventsv1.ItemBought {
	b := buy(id, "i1")
	b.Buy.Date = &timestamppb.Timestamp{Seconds: 1e12}
	return b
}

func TestUnencodableEventIsDeadLetteredAndTheRestOfTheBatchStored(t *testing.T) {
	store, dlq := newMemStore(), &fakeDLQ{}
	batch := app.Batch{
		record(t, testTopics.BuyActions, buy(eventID(1), "i1")),
		record(t, testTopics.BuyActions, farFuture(eventID(2))),
		record(t, testTopics.BuyActions, buy(eventID(3), "i1")),
	}
	batch[1].Offset = 41
	if err := newUnvalidatedIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got, want := store.ids(app.KindBuy), []string{eventID(1), eventID(3)}; !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	if len(dlq.reasons) != 1 || dlq.reasons[0] != app.ReasonEncode {
		t.Fatalf("dead-lettered %v %v, want the far-future buy with reason encode", dlq.parked, dlq.reasons)
	}
}

func TestBatchRefusedAsAWholeIsSplitUntilTheCulpritIsAlone(t *testing.T) {
	store, dlq := newMemStore(), &fakeDLQ{}
	store.refuse[eventID(5)] = true
	var batch app.Batch
	for i := range 16 {
		batch = append(batch, record(t, testTopics.BuyActions, buy(eventID(i), "i1")))
	}
	if err := newUnvalidatedIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := store.ids(app.KindBuy); len(got) != 15 || slices.Contains(got, eventID(5)) {
		t.Fatalf("stored %v, want every buy but the refused one", got)
	}
	if len(dlq.reasons) != 1 || dlq.reasons[0] != app.ReasonRejected {
		t.Fatalf("dead-lettered %v, want only the refused buy, reason rejected", dlq.parked)
	}
	// Bisection: one call per level on the culprit's side and its sibling.
	if store.calls > 1+2*4 {
		t.Errorf("%d saves to isolate one document among 16", store.calls)
	}
}

func TestTransientFailuresAreRetriedThenTheRejectionDeadLettered(t *testing.T) {
	store, dlq := newMemStore(), &fakeDLQ{}
	store.transient = 5
	batch := app.Batch{record(t, testTopics.BuyActions, farFuture(eventID(1))), record(t, testTopics.BuyActions, buy(eventID(2), "i1"))}
	if err := newUnvalidatedIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(dlq.parked) != 1 || dlq.reasons[0] != app.ReasonEncode {
		t.Fatalf("dead-lettered %v, want only the unencodable buy (transient failures are never dead-lettered)", dlq.parked)
	}
	if got := store.ids(app.KindBuy); !slices.Equal(got, []string{eventID(2)}) {
		t.Fatalf("stored %v", got)
	}
}

func TestAlwaysFailingStoreNeverDeadLetters(t *testing.T) {
	store, dlq := newMemStore(), &fakeDLQ{}
	store.transient = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := newUnvalidatedIngest(t, store, dlq).Store(ctx, app.Batch{record(t, testTopics.BuyActions, buy(eventID(1), "i1"))})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if len(dlq.parked) != 0 {
		t.Fatalf("a database that is down must never dead-letter healthy records: %v", dlq.parked)
	}
}

func TestARejectedFirstCopyLetsTheNextCopyBeStored(t *testing.T) {
	store, dlq := newMemStore(), &fakeDLQ{}
	// A forged copy of an event arrives first, the genuine one after it.
	batch := app.Batch{record(t, testTopics.BuyActions, farFuture(eventID(1))), record(t, testTopics.BuyActions, buy(eventID(1), "i1"))}
	if err := newUnvalidatedIngest(t, store, dlq).Store(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(dlq.parked) != 1 {
		t.Fatalf("dead-lettered %v, want the forged copy", dlq.parked)
	}
	var got eventsv1.ItemBought
	if err := protobson.Unmarshal(store.stored[app.KindBuy][eventID(1)], &got); err != nil {
		t.Fatal(err)
	}
	if got.GetBuy().GetDate().GetSeconds() != 1700000000 {
		t.Fatalf("stored %v, want the genuine copy", &got)
	}
}
