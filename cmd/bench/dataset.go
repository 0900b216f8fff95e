package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Dataset is the ingest backlog and the read path's data: items, each with a
// buy, a sell and a pawn, built from the generated types and encoded as the
// dispatcher encodes them (see events.go).
type Dataset struct {
	// topics are the stack's topics, which Messages go to.
	topics  topics.Names
	ItemIDs []string
	// Messages are the Kafka records, in the order they are produced.
	Messages []kafkapub.Message
	// Docs are the same events as the documents a worker stores, by
	// collection, with the worker's keys (items by item id, actions by
	// event id).
	Docs map[string][]document
}

// Events is the backlog's size.
func (d *Dataset) Events() int { return len(d.Messages) }

var (
	categories = []auctionv1.Category{auctionv1.Category_CATEGORY_MOTOR, auctionv1.Category_CATEGORY_JEWELRY,
		auctionv1.Category_CATEGORY_ELECTRONICS, auctionv1.Category_CATEGORY_DECORATION}
	states = []auctionv1.State{auctionv1.State_STATE_NEW, auctionv1.State_STATE_GOOD, auctionv1.State_STATE_BAD}
)

// newDataset builds n items with histories; run makes the ids unique to
// this run, so a real backend that keeps data from earlier runs is no problem.
func newDataset(run string, n int, t topics.Names) (*Dataset, error) {
	d := &Dataset{topics: t, Docs: map[string][]document{}}
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		id := fmt.Sprintf("bench-%s-%06d", run, i)
		d.ItemIDs = append(d.ItemIDs, id)
		if err := d.addItem(i, id, base.Add(time.Duration(i)*time.Millisecond)); err != nil {
			return nil, fmt.Errorf("build data set: %w", err)
		}
	}
	return d, nil
}

// addItem adds the i-th item, accepted at at, with a buy, a sell and a pawn
// (dated at, as the dispatcher dates an action that has no date).
func (d *Dataset) addItem(i int, id string, at time.Time) error {
	item := &eventsv1.ItemAdded{Envelope: envelope(at), Item: newItem(&auctionv1.AddItemRequest{
		Id: id, Name: fmt.Sprintf("Bench item %d", i%1000), Category: categories[i%len(categories)],
		PriceCents: int64(1000 + i%5000), State: states[i%len(states)], AgeMonths: uint32(i % 240)}, at)}
	buy := &eventsv1.ItemBought{Envelope: envelope(at), Buy: &auctionv1.Buy{
		ClientId: fmt.Sprintf("client-%d", i%997), ItemId: id, PriceCents: int64(800 + i%4000), Date: timestamppb.New(at)}}
	sell := &eventsv1.ItemSold{Envelope: envelope(at), Sell: &auctionv1.Sell{
		ClientId: fmt.Sprintf("client-%d", (i+1)%997), ItemId: id, PriceCents: int64(1200 + i%4000), Date: timestamppb.New(at), ProfitCents: 400}}
	pawn := &eventsv1.ItemPawned{Envelope: envelope(at), Pawn: &auctionv1.Pawn{
		ClientId: fmt.Sprintf("client-%d", (i+2)%997), ItemId: id, PriceCents: 500, TaxCents: 50, Date: timestamppb.New(at), LimitDays: 30}}
	return errors.Join(
		d.add(d.topics.Items, id, itemsColl, id, item, item.Envelope.EventId),
		d.add(d.topics.BuyActions, id, buysColl, buy.Envelope.EventId, buy, buy.Envelope.EventId),
		d.add(d.topics.SellActions, id, sellsColl, sell.Envelope.EventId, sell, sell.Envelope.EventId),
		d.add(d.topics.PawnActions, id, pawnsColl, pawn.Envelope.EventId, pawn, pawn.Envelope.EventId),
	)
}

// add appends an event as its Kafka record and as the document a worker
// stores in coll under docID.
func (d *Dataset) add(topic, key, coll, docID string, ev proto.Message, eventID string) error {
	m, err := encodeEvent(topic, key, eventID, ev)
	if err != nil {
		return err
	}
	d.Messages = append(d.Messages, m)
	d.Docs[coll] = append(d.Docs[coll], document{ID: docID, Msg: ev})
	return nil
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
