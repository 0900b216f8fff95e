package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
)

// testEvent returns an item-added event with this id for item key.
func testEvent(id, key string) Event {
	return Event{Topic: topics.Items, Key: key, ID: id, Payload: &eventsv1.ItemAdded{
		Envelope: &eventsv1.Envelope{EventId: id},
		Item:     &auctionv1.Item{Id: key, Name: "lamp"},
	}}
}

func newPublisher(b *fakeBroker, buf *fakeBuffer, timeout time.Duration) *DurablePublisher {
	return NewDurablePublisher(b, buf, timeout, discardLog())
}

func mustPublish(t testing.TB, p *DurablePublisher, e Event, want WriteStatus) {
	t.Helper()
	st, err := p.Publish(context.Background(), e)
	if err != nil || st != want {
		t.Fatalf("publish %s: status %v, err %v; want status %v", e.ID, st, err, want)
	}
}

func TestDurablePublishGoesToTheBrokerWhenItAcknowledges(t *testing.T) {
	b, buf := &fakeBroker{}, &fakeBuffer{}
	e := testEvent("e1", "item-1")
	mustPublish(t, newPublisher(b, buf, time.Second), e, Published)

	if got := b.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("broker got %v, want [e1]", got)
	}
	if len(buf.ids()) != 0 {
		t.Fatalf("buffer holds %v after an acknowledged publish", buf.ids())
	}
	if buf.holdsCalls != 0 {
		t.Fatalf("an empty buffer (MayHold false) was asked %d times", buf.holdsCalls)
	}
	if !b.deadlines[0] {
		t.Fatal("the broker wait has no deadline")
	}
	m := b.published[0]
	if m.Topic != topics.Items || m.Key != "item-1" || m.ID != "e1" {
		t.Fatalf("message %+v: wrong topic, key or id", m)
	}
	if m.Headers[topics.HeaderEventID] != "e1" || m.Headers[topics.HeaderType] != "events.v1.ItemAdded" {
		t.Fatalf("headers %v: want the event id and the payload type", m.Headers)
	}
	var back eventsv1.ItemAdded
	if err := proto.Unmarshal(m.Value, &back); err != nil || !proto.Equal(&back, e.Payload) {
		t.Fatalf("value decodes to %v (%v), want %v", &back, err, e.Payload)
	}
}

func TestDurablePublishBuffersWhatTheBrokerRefuses(t *testing.T) {
	b := &fakeBroker{fail: func(Message) error { return errors.New("broker down") }}
	buf := &fakeBuffer{}
	mustPublish(t, newPublisher(b, buf, time.Second), testEvent("e1", "item-1"), Buffered)
	if got := buf.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("buffer holds %v, want [e1]", got)
	}
	if got := buf.waiting[0].Headers[topics.HeaderEventID]; got != "e1" {
		t.Fatalf("buffered message lost its headers: event id %q", got)
	}
}

func TestDurablePublishBuffersWhenTheBrokerIsSlowerThanTheTimeout(t *testing.T) {
	b := &fakeBroker{hang: true}
	buf := &fakeBuffer{}
	// The broker never answers; only the publish timeout ends its wait.
	mustPublish(t, newPublisher(b, buf, 5*time.Millisecond), testEvent("e1", "item-1"), Buffered)
	if got := buf.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("buffer holds %v, want [e1]", got)
	}
}

func TestDurablePublishKeepsTheWriteWhenTheRequestDeadlineIsSpent(t *testing.T) {
	// The request's own deadline ends while waiting for the broker: the
	// buffer write must still get a live context, or an accepted write is lost.
	b := &fakeBroker{hang: true}
	buf := &fakeBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	st, err := newPublisher(b, buf, time.Hour).Publish(ctx, testEvent("e1", "item-1"))
	if err != nil || st != Buffered {
		t.Fatalf("status %v, err %v; want Buffered", st, err)
	}
	if buf.appendCtxErr[0] != nil {
		t.Fatalf("the buffer write got a finished context: %v", buf.appendCtxErr[0])
	}
}

func TestDurablePublishOrdersNewEventsBehindBufferedOnes(t *testing.T) {
	broker := &fakeBroker{}
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "old-1", "old-2")
	p := newPublisher(broker, buf, time.Second)

	// The broker is healthy again, but item-1 still has events waiting: its
	// new event must queue behind them, not overtake them.
	mustPublish(t, p, testEvent("new-1", "item-1"), Buffered)
	// Another item with nothing buffered goes straight to the broker.
	mustPublish(t, p, testEvent("other", "item-2"), Published)

	if got := buf.ids(); !slices.Equal(got, []string{"old-1", "old-2", "new-1"}) {
		t.Fatalf("buffer holds %v, want [old-1 old-2 new-1]", got)
	}
	if got := broker.ids(); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("broker got %v, want only [other]", got)
	}
}

func TestDurablePublishThenReplayKeepsTheOrderOfOneItem(t *testing.T) {
	down := true
	broker := &fakeBroker{fail: func(Message) error {
		if down {
			return errors.New("broker down")
		}
		return nil
	}}
	buf := &fakeBuffer{}
	p := newPublisher(broker, buf, time.Second)
	mustPublish(t, p, testEvent("a1", "item-a"), Buffered)
	down = false
	mustPublish(t, p, testEvent("a2", "item-a"), Buffered)
	mustPublish(t, p, testEvent("b1", "item-b"), Published)

	n, err := NewReplayer(buf, broker, time.Second, time.Second, discardLog()).ReplayOnce(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("replayed %d, %v; want 2", n, err)
	}
	mustPublish(t, p, testEvent("a3", "item-a"), Published)
	if got := broker.ids(); !slices.Equal(got, []string{"b1", "a1", "a2", "a3"}) {
		t.Fatalf("broker got %v, want [b1 a1 a2 a3]: item-a's events in order", got)
	}
}

func TestDurablePublishRefusesWhenBrokerAndBufferAreBothDown(t *testing.T) {
	brokerErr, bufferErr := errors.New("broker down"), errors.New("redis down")
	b := &fakeBroker{fail: func(Message) error { return brokerErr }}
	buf := &fakeBuffer{appendErr: bufferErr}
	st, err := newPublisher(b, buf, time.Second).Publish(context.Background(), testEvent("e1", "item-1"))
	if !errors.Is(err, ErrPublishUnavailable) {
		t.Fatalf("err %v, want ErrPublishUnavailable", err)
	}
	if !errors.Is(err, brokerErr) || !errors.Is(err, bufferErr) {
		t.Fatalf("err %v does not carry both causes", err)
	}
	if st == Published || st == Buffered {
		t.Fatalf("status %v with an error", st)
	}
}

func TestDurablePublishRefusesWhenTheBufferHoldsTheItemButCannotTakeMore(t *testing.T) {
	// The item's earlier events wait in the buffer, which now refuses
	// writes: publishing directly would overtake them, so the write is refused.
	b := &fakeBroker{}
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "old-1")
	buf.appendErr = errors.New("redis full")
	_, err := newPublisher(b, buf, time.Second).Publish(context.Background(), testEvent("e1", "item-1"))
	if !errors.Is(err, ErrPublishUnavailable) {
		t.Fatalf("err %v, want ErrPublishUnavailable", err)
	}
	if b.callCount() != 0 {
		t.Fatalf("the broker was called %d times: the event would overtake a buffered one", b.callCount())
	}
}

func TestDurablePublishGoesDirectlyWhenTheBufferCannotBeChecked(t *testing.T) {
	b := &fakeBroker{}
	yes := true
	buf := &fakeBuffer{holdsErr: errors.New("redis down"), appendErr: errors.New("redis down"), hint: &yes}
	mustPublish(t, newPublisher(b, buf, time.Second), testEvent("e1", "item-1"), Published)
	if buf.holdsCalls != 1 {
		t.Fatalf("Holds called %d times, want 1 (MayHold said yes)", buf.holdsCalls)
	}
	if got := b.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("broker got %v, want [e1]", got)
	}
}

func TestDurablePublishSkipsTheBufferCheckWhenItIsKnownEmpty(t *testing.T) {
	b := &fakeBroker{}
	no := false
	// MayHold says empty: Holds (one Redis round trip per write) is not asked,
	// even though it would answer with an error.
	buf := &fakeBuffer{holdsErr: errors.New("must not be called"), hint: &no}
	mustPublish(t, newPublisher(b, buf, time.Second), testEvent("e1", "item-1"), Published)
	if buf.holdsCalls != 0 {
		t.Fatalf("Holds called %d times with MayHold false", buf.holdsCalls)
	}
}

func TestDurablePublishRefusesAnEventThatDoesNotEncode(t *testing.T) {
	b, buf := &fakeBroker{}, &fakeBuffer{}
	// Invalid UTF-8 in a proto3 string field does not marshal.
	e := Event{Topic: topics.Items, Key: "k", ID: "e1", Payload: &auctionv1.Item{Id: "k", Name: "\xff"}}
	if _, err := newPublisher(b, buf, time.Second).Publish(context.Background(), e); err == nil {
		t.Fatal("an event that cannot be encoded was accepted")
	}
	if b.callCount() != 0 || len(buf.ids()) != 0 {
		t.Fatalf("broker calls %d, buffer %v: nothing may be published", b.callCount(), buf.ids())
	}
}
