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

// Dataset is the ingest backlog: items, each with a buy, a sell and a pawn,
// built from the generated types and encoded as the dispatcher encodes them
// (see events.go), with what the worker makes of them.
type Dataset struct {
	// topics are the stack's topics, which Messages go to.
	topics  topics.Names
	ItemIDs []string
	// Messages are the Kafka records, in the order they are produced.
	Messages []kafkapub.Message
	// Items are the documents the worker's model holds once every event
	// is stored, in item order.
	Items []*itemDoc
	// Writes are the events as the worker's model writes them (one upsert
	// of its item's document each), by event kind (the worker writes a
	// batch's kinds in separate bulk writes), each in produce order.
	Writes map[string][]modelWrite
	// Events are the same events as separate documents (the model before
	// issue 14), by collection, for the bulk-insert baseline.
	OldDocs map[string][]document
}

// Events is the backlog's size.
func (d *Dataset) Events() int { return len(d.Messages) }

var (
	categories = []auctionv1.Category{auctionv1.Category_CATEGORY_MOTOR, auctionv1.Category_CATEGORY_JEWELRY,
		auctionv1.Category_CATEGORY_ELECTRONICS, auctionv1.Category_CATEGORY_DECORATION}
	states = []auctionv1.State{auctionv1.State_STATE_NEW, auctionv1.State_STATE_GOOD, auctionv1.State_STATE_BAD}
)

// itemNames is how many distinct names the items have: item i is named
// "Bench item <i mod itemNames>".
const itemNames = 1000

// itemID is the id of the i-th item of a run; run makes the ids unique to
// this run, so a real backend that keeps data from earlier runs is no problem.
func itemID(run string, i int) string { return fmt.Sprintf("bench-%s-%06d", run, i) }

// newDataset builds n items with histories.
func newDataset(run string, n int, t topics.Names) (*Dataset, error) {
	d := &Dataset{topics: t, OldDocs: map[string][]document{}, Writes: map[string][]modelWrite{}}
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		id := itemID(run, i)
		d.ItemIDs = append(d.ItemIDs, id)
		if err := d.addItem(itemEventsOf(i, id, base.Add(time.Duration(i)*time.Millisecond))); err != nil {
			return nil, fmt.Errorf("build data set: %w", err)
		}
	}
	return d, nil
}

// itemEvents are one item's four events.
type itemEvents struct {
	id    string
	added *eventsv1.ItemAdded
	buy   *eventsv1.ItemBought
	sell  *eventsv1.ItemSold
	pawn  *eventsv1.ItemPawned
}

// itemEventsOf builds the i-th item, accepted at at, with a buy, a sell and
// a pawn (dated at, as the dispatcher dates an action that has no date).
func itemEventsOf(i int, id string, at time.Time) itemEvents {
	return itemEvents{
		id: id,
		added: &eventsv1.ItemAdded{Envelope: envelope(at), Item: newItem(&auctionv1.AddItemRequest{
			Id: id, Name: fmt.Sprintf("Bench item %d", i%itemNames), Category: categories[i%len(categories)],
			PriceCents: int64(1000 + i%5000), State: states[i%len(states)], AgeMonths: uint32(i % 240)}, at)},
		buy: &eventsv1.ItemBought{Envelope: envelope(at), Buy: &auctionv1.Buy{
			ClientId: fmt.Sprintf("client-%d", i%997), ItemId: id, PriceCents: int64(800 + i%4000), Date: timestamppb.New(at)}},
		sell: &eventsv1.ItemSold{Envelope: envelope(at), Sell: &auctionv1.Sell{
			ClientId: fmt.Sprintf("client-%d", (i+1)%997), ItemId: id, PriceCents: int64(1200 + i%4000), Date: timestamppb.New(at), ProfitCents: 400}},
		pawn: &eventsv1.ItemPawned{Envelope: envelope(at), Pawn: &auctionv1.Pawn{
			ClientId: fmt.Sprintf("client-%d", (i+2)%997), ItemId: id, PriceCents: 500, TaxCents: 50, Date: timestamppb.New(at), LimitDays: 30}},
	}
}

// doc is the item's document once all its events are stored; without
// history, once only its ItemAdded is.
func (e itemEvents) doc(history bool) *itemDoc {
	d := &itemDoc{ID: e.id, Item: e.added.GetItem(), Added: e.added.GetEnvelope()}
	if history {
		d.Buys = map[string]*auctionv1.Buy{e.buy.GetEnvelope().GetEventId(): e.buy.GetBuy()}
		d.Sells = map[string]*auctionv1.Sell{e.sell.GetEnvelope().GetEventId(): e.sell.GetSell()}
		d.Pawns = map[string]*auctionv1.Pawn{e.pawn.GetEnvelope().GetEventId(): e.pawn.GetPawn()}
	}
	return d
}

// addItem appends an item's events as Kafka records, model writes and old
// model documents, and its final document.
func (d *Dataset) addItem(e itemEvents) error {
	d.Items = append(d.Items, e.doc(true))
	id := e.id
	return errors.Join(
		d.add(d.topics.Items, id, oldItemsColl, id, e.added, e.added.Envelope.EventId,
			modelWrite{ItemID: id, Set: []setField{{fieldItem, e.added.GetItem()}, {fieldAdded, e.added.GetEnvelope()}}, Insert: true}),
		d.add(d.topics.BuyActions, id, oldBuysColl, e.buy.Envelope.EventId, e.buy, e.buy.Envelope.EventId,
			modelWrite{ItemID: id, Set: []setField{{fieldBuys + "." + e.buy.Envelope.EventId, e.buy.GetBuy()}}}),
		d.add(d.topics.SellActions, id, oldSellsColl, e.sell.Envelope.EventId, e.sell, e.sell.Envelope.EventId,
			modelWrite{ItemID: id, Set: []setField{{fieldSells + "." + e.sell.Envelope.EventId, e.sell.GetSell()}}}),
		d.add(d.topics.PawnActions, id, oldPawnsColl, e.pawn.Envelope.EventId, e.pawn, e.pawn.Envelope.EventId,
			modelWrite{ItemID: id, Set: []setField{{fieldPawns + "." + e.pawn.Envelope.EventId, e.pawn.GetPawn()}}}),
	)
}

// add appends an event as its Kafka record, its model write and the
// document the old model stored in coll under docID.
func (d *Dataset) add(topic, key, coll, docID string, ev proto.Message, eventID string, w modelWrite) error {
	m, err := encodeEvent(topic, key, eventID, ev)
	if err != nil {
		return err
	}
	d.Messages = append(d.Messages, m)
	d.Writes[coll] = append(d.Writes[coll], w)
	d.OldDocs[coll] = append(d.OldDocs[coll], document{ID: docID, Msg: ev})
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
