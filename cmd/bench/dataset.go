package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/app"
	wapp "github.com/pawnshop/auction/services/worker/app"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Dataset is the ingest backlog and the read path's data: items, each with a
// buy, a sell and a pawn, built with the dispatcher's own converters and
// encoded as the dispatcher encodes them.
type Dataset struct {
	ItemIDs []string
	// Messages are the Kafka records, in the order they are produced.
	Messages []app.Message
	// Docs are the same events as the documents a worker stores, by
	// collection, with the worker's keys (items by item id, actions by
	// event id).
	Docs map[string][]wapp.Document
}

// Events is the backlog's size.
func (d *Dataset) Events() int { return len(d.Messages) }

var (
	categories = []auctionv1.Category{auctionv1.Category_CATEGORY_MOTOR, auctionv1.Category_CATEGORY_JEWELRY,
		auctionv1.Category_CATEGORY_ELECTRONICS, auctionv1.Category_CATEGORY_DECORATION}
	states = []auctionv1.State{auctionv1.State_STATE_NEW, auctionv1.State_STATE_GOOD, auctionv1.State_STATE_BAD}
)

func envelope(at time.Time) *eventsv1.Envelope {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return &eventsv1.Envelope{EventId: id.String(), AcceptedAt: timestamppb.New(at), RequestId: requestid.New()}
}

// newDataset builds n items with histories; run makes the ids unique to
// this run, so a real backend that keeps data from earlier runs is no problem.
func newDataset(run string, n int) (*Dataset, error) {
	d := &Dataset{Docs: map[string][]wapp.Document{}}
	base := time.Now().UTC().Truncate(time.Millisecond)
	add := func(topic, key, coll, docID string, ev proto.Message, eventID string) error {
		m, err := app.Encode(app.Event{Topic: topic, Key: key, ID: eventID, Payload: ev})
		if err != nil {
			return err
		}
		d.Messages = append(d.Messages, m)
		d.Docs[coll] = append(d.Docs[coll], wapp.Document{ID: docID, Msg: ev})
		return nil
	}
	for i := range n {
		id := fmt.Sprintf("bench-%s-%06d", run, i)
		at := base.Add(time.Duration(i) * time.Millisecond)
		d.ItemIDs = append(d.ItemIDs, id)
		item := &eventsv1.ItemAdded{Envelope: envelope(at), Item: app.ItemFromRequest(&auctionv1.AddItemRequest{
			Id: id, Name: fmt.Sprintf("Bench item %d", i%1000), Category: categories[i%len(categories)],
			PriceCents: int64(1000 + i%5000), State: states[i%len(states)], AgeMonths: uint32(i % 240)}, at)}
		buy := &eventsv1.ItemBought{Envelope: envelope(at), Buy: app.BuyFromRequest(&auctionv1.BuyItemRequest{
			ClientId: fmt.Sprintf("client-%d", i%997), ItemId: id, PriceCents: int64(800 + i%4000)}, at)}
		sell := &eventsv1.ItemSold{Envelope: envelope(at), Sell: app.SellFromRequest(&auctionv1.SellItemRequest{
			ClientId: fmt.Sprintf("client-%d", (i+1)%997), ItemId: id, PriceCents: int64(1200 + i%4000), ProfitCents: 400}, at)}
		pawn := &eventsv1.ItemPawned{Envelope: envelope(at), Pawn: app.PawnFromRequest(&auctionv1.PawnItemRequest{
			ClientId: fmt.Sprintf("client-%d", (i+2)%997), ItemId: id, PriceCents: 500, TaxCents: 50, LimitDays: 30}, at)}
		for _, e := range []error{
			add(topics.Items, id, wapp.ItemsCollection, id, item, item.Envelope.EventId),
			add(topics.BuyActions, id, wapp.BuysCollection, buy.Envelope.EventId, buy, buy.Envelope.EventId),
			add(topics.SellActions, id, wapp.SellsCollection, sell.Envelope.EventId, sell, sell.Envelope.EventId),
			add(topics.PawnActions, id, wapp.PawnsCollection, pawn.Envelope.EventId, pawn, pawn.Envelope.EventId),
		} {
			if e != nil {
				return nil, fmt.Errorf("build data set: %w", e)
			}
		}
	}
	return d, nil
}

// ctxSleep sleeps d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
