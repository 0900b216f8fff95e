package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// recordingPublisher keeps the events it was given and answers with status
// or err.
type recordingPublisher struct {
	events []Event
	status WriteStatus
	err    error
}

func (p *recordingPublisher) Publish(_ context.Context, e Event) (WriteStatus, error) {
	p.events = append(p.events, e)
	if p.err != nil {
		return 0, p.err
	}
	return p.status, nil
}

// fraudList flags the clients it holds.
type fraudList map[string]bool

func (f fraudList) Flagged(id string) bool { return f[id] }

// clockAt is the fixed accept time of these tests, with sub-millisecond
// digits that the accept time must drop.
var clockAt = time.Date(2026, 3, 14, 15, 9, 26, 535_897_932, time.FixedZone("X", 3600))

// testTopics are the topics of the deployment these tests write to: every
// event goes to its topic under the deployment's name.
var testTopics = topics.For(clustername.MustParse("shop-2"))

func newTestWrites(pub Publisher, screen Screen) *Writes {
	w := NewWrites(testTopics, pub, screen, newMemClaims())
	w.now = func() time.Time { return clockAt }
	return w
}

// wantAcceptedAt is clockAt at millisecond precision in UTC.
var wantAcceptedAt = time.Date(2026, 3, 14, 14, 9, 26, 535_000_000, time.UTC)

// checkEnvelope checks an event's envelope against its Event and the clock.
func checkEnvelope(t testing.TB, env *eventsv1.Envelope, e Event, wantRequestID string) {
	t.Helper()
	if env.GetEventId() != e.ID {
		t.Fatalf("envelope event id %q, Event.ID %q", env.GetEventId(), e.ID)
	}
	id, err := uuid.Parse(env.GetEventId())
	if err != nil || id.Version() != 7 {
		t.Fatalf("event id %q is not a UUIDv7 (%v)", env.GetEventId(), err)
	}
	if got := env.GetAcceptedAt().AsTime(); !got.Equal(wantAcceptedAt) {
		t.Fatalf("accepted at %v, want %v", got, wantAcceptedAt)
	}
	if wantRequestID != "" && env.GetRequestId() != wantRequestID {
		t.Fatalf("request id %q, want %q", env.GetRequestId(), wantRequestID)
	}
	if env.GetRequestId() == "" {
		t.Fatal("envelope has no request id")
	}
}

func TestAddItemAssignsAnIDAndPublishesOnTheItemsTopic(t *testing.T) {
	pub := &recordingPublisher{status: Published}
	ctx := requestid.NewContext(context.Background(), "req-1")
	r, err := newTestWrites(pub, fraudList{}).AddItem(ctx, &auctionv1.AddItemRequest{
		Name: "lamp", Category: auctionv1.Category_CATEGORY_DECORATION, PriceCents: 1250, State: auctionv1.State_STATE_NEW, AgeMonths: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.events) != 1 {
		t.Fatalf("%d events published, want 1", len(pub.events))
	}
	e := pub.events[0]
	ev, ok := e.Payload.(*eventsv1.ItemAdded)
	if !ok {
		t.Fatalf("payload %T, want *eventsv1.ItemAdded", e.Payload)
	}
	if _, err := uuid.Parse(ev.Item.GetId()); err != nil {
		t.Fatalf("assigned item id %q is not a UUID", ev.Item.GetId())
	}
	if e.Topic != "shop-2.items" || e.Key != ev.Item.GetId() {
		t.Fatalf("topic %q key %q, want shop-2.items keyed by the item id %q", e.Topic, e.Key, ev.Item.GetId())
	}
	if r.ItemID != ev.Item.GetId() || r.EventID != e.ID || r.Status != Published {
		t.Fatalf("receipt %+v does not match item %q event %q", r, ev.Item.GetId(), e.ID)
	}
	checkEnvelope(t, ev.GetEnvelope(), e, "req-1")
	want := &auctionv1.Item{Id: ev.Item.GetId(), Name: "lamp", Category: auctionv1.Category_CATEGORY_DECORATION, PriceCents: 1250,
		State: auctionv1.State_STATE_NEW, AgeMonths: 3, CreatedAt: timestamppb.New(wantAcceptedAt)}
	if !proto.Equal(ev.Item, want) {
		t.Fatalf("item %v, want %v", ev.Item, want)
	}
}

func TestAddItemKeepsTheClientsIDAndGivesEachEventItsOwnID(t *testing.T) {
	pub := &recordingPublisher{status: Buffered}
	w := newTestWrites(pub, fraudList{})
	r1, err1 := w.AddItem(context.Background(), &auctionv1.AddItemRequest{Id: "item-7", Name: "lamp"})
	r2, err2 := w.AddItem(context.Background(), &auctionv1.AddItemRequest{Id: "item-7", Name: "lamp"})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r1.ItemID != "item-7" || pub.events[0].Key != "item-7" || r1.Status != Buffered {
		t.Fatalf("receipt %+v key %q: the client's id and the publisher's status must be kept", r1, pub.events[0].Key)
	}
	if r1.EventID == r2.EventID {
		t.Fatalf("two writes share event id %q", r1.EventID)
	}
	// Without a request id in the context, one is made up.
	checkEnvelope(t, pub.events[0].Payload.(*eventsv1.ItemAdded).GetEnvelope(), pub.events[0], "")
}

// action is one of the three client actions, driven through Writes.
type action struct {
	name  string
	topic string
	do    func(w *Writes, ctx context.Context, client string, date *timestamppb.Timestamp) (Receipt, error)
	// check returns the envelope and the action's date from the payload
	// after checking its other fields.
	check func(t testing.TB, p proto.Message) (*eventsv1.Envelope, *timestamppb.Timestamp)
}

var actions = []action{
	{
		name: "buy", topic: "shop-2.buy-actions",
		do: func(w *Writes, ctx context.Context, client string, d *timestamppb.Timestamp) (Receipt, error) {
			return w.BuyItem(ctx, &auctionv1.BuyItemRequest{ClientId: client, ItemId: "item-1", PriceCents: 500, Date: d})
		},
		check: func(t testing.TB, p proto.Message) (*eventsv1.Envelope, *timestamppb.Timestamp) {
			ev := p.(*eventsv1.ItemBought)
			b := ev.GetBuy()
			if b.GetClientId() != "alice" || b.GetItemId() != "item-1" || b.GetPriceCents() != 500 {
				t.Fatalf("buy %v", b)
			}
			return ev.GetEnvelope(), b.GetDate()
		},
	},
	{
		name: "sell", topic: "shop-2.sell-actions",
		do: func(w *Writes, ctx context.Context, client string, d *timestamppb.Timestamp) (Receipt, error) {
			return w.SellItem(ctx, &auctionv1.SellItemRequest{ClientId: client, ItemId: "item-1", PriceCents: 700, ProfitCents: 200, Date: d})
		},
		check: func(t testing.TB, p proto.Message) (*eventsv1.Envelope, *timestamppb.Timestamp) {
			ev := p.(*eventsv1.ItemSold)
			s := ev.GetSell()
			if s.GetClientId() != "alice" || s.GetItemId() != "item-1" || s.GetPriceCents() != 700 || s.GetProfitCents() != 200 {
				t.Fatalf("sell %v", s)
			}
			return ev.GetEnvelope(), s.GetDate()
		},
	},
	{
		name: "pawn", topic: "shop-2.pawn-actions",
		do: func(w *Writes, ctx context.Context, client string, d *timestamppb.Timestamp) (Receipt, error) {
			return w.PawnItem(ctx, &auctionv1.PawnItemRequest{ClientId: client, ItemId: "item-1", PriceCents: 300, TaxCents: 30, LimitDays: 14, Date: d})
		},
		check: func(t testing.TB, p proto.Message) (*eventsv1.Envelope, *timestamppb.Timestamp) {
			ev := p.(*eventsv1.ItemPawned)
			pw := ev.GetPawn()
			if pw.GetClientId() != "alice" || pw.GetItemId() != "item-1" || pw.GetPriceCents() != 300 || pw.GetTaxCents() != 30 || pw.GetLimitDays() != 14 {
				t.Fatalf("pawn %v", pw)
			}
			return ev.GetEnvelope(), pw.GetDate()
		},
	},
}

func TestActionsArePublishedOnTheirTopicKeyedByItem(t *testing.T) {
	for _, a := range actions {
		t.Run(a.name, func(t *testing.T) {
			pub := &recordingPublisher{status: Published}
			ctx := requestid.NewContext(context.Background(), "req-"+a.name)
			r, err := a.do(newTestWrites(pub, fraudList{"mallory": true}), ctx, "alice", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(pub.events) != 1 {
				t.Fatalf("%d events, want 1", len(pub.events))
			}
			e := pub.events[0]
			if e.Topic != a.topic || e.Key != "item-1" {
				t.Fatalf("topic %q key %q, want %q keyed by item-1", e.Topic, e.Key, a.topic)
			}
			if r.ItemID != "item-1" || r.EventID != e.ID || r.Status != Published {
				t.Fatalf("receipt %+v, event %q", r, e.ID)
			}
			env, date := a.check(t, e.Payload)
			checkEnvelope(t, env, e, "req-"+a.name)
			// No date in the request: the action is dated when it was accepted.
			if !date.AsTime().Equal(wantAcceptedAt) {
				t.Fatalf("date %v, want the accept time %v", date.AsTime(), wantAcceptedAt)
			}
		})
	}
}

func TestActionsKeepTheClientsDateAtMillisecondPrecision(t *testing.T) {
	given := time.Date(2025, 1, 2, 3, 4, 5, 678_912_345, time.UTC)
	for _, a := range actions {
		t.Run(a.name, func(t *testing.T) {
			pub := &recordingPublisher{status: Published}
			if _, err := a.do(newTestWrites(pub, fraudList{}), context.Background(), "alice", timestamppb.New(given)); err != nil {
				t.Fatal(err)
			}
			_, date := a.check(t, pub.events[0].Payload)
			if want := given.Truncate(time.Millisecond); !date.AsTime().Equal(want) {
				t.Fatalf("date %v, want %v", date.AsTime(), want)
			}
		})
	}
}

func TestActionsByAFlaggedClientAreRefusedBeforeAnythingIsPublished(t *testing.T) {
	for _, a := range actions {
		t.Run(a.name, func(t *testing.T) {
			pub := &recordingPublisher{status: Published}
			_, err := a.do(newTestWrites(pub, fraudList{"mallory": true}), context.Background(), "mallory", nil)
			if !errors.Is(err, ErrFraudulentClient) {
				t.Fatalf("err %v, want ErrFraudulentClient", err)
			}
			if len(pub.events) != 0 {
				t.Fatalf("%d events published for a flagged client", len(pub.events))
			}
		})
	}
}

func TestWritesPassOnThatNothingWasMadeDurable(t *testing.T) {
	cause := errors.New("redis down")
	pub := &recordingPublisher{err: errors.Join(ErrPublishUnavailable, cause)}
	w := newTestWrites(pub, fraudList{})
	if _, err := w.AddItem(context.Background(), &auctionv1.AddItemRequest{Name: "lamp"}); !errors.Is(err, ErrPublishUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("add: err %v, want ErrPublishUnavailable with its cause", err)
	}
	for _, a := range actions {
		r, err := a.do(w, context.Background(), "alice", nil)
		if !errors.Is(err, ErrPublishUnavailable) {
			t.Fatalf("%s: err %v, want ErrPublishUnavailable", a.name, err)
		}
		if r != (Receipt{}) {
			t.Fatalf("%s: receipt %+v with an error", a.name, r)
		}
	}
}
