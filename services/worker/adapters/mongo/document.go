package mongo

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
)

// The stored model: ONE document per item in the items collection, so that
// a fetch by id is one lookup of the `_id` index and a listing one indexed
// query, with no lookup of the history elsewhere:
//
//	{_id: <item id>,
//	 item:  <auction.v1.Item>,              // set by the ItemAdded
//	 added: <events.v1.Envelope>,           // the ItemAdded's envelope
//	 buys:  {<event id>: <auction.v1.Buy>}, // one entry per ItemBought
//	 sells: {<event id>: <auction.v1.Sell>},
//	 pawns: {<event id>: <auction.v1.Pawn>}}
//
// Every message is encoded with internal/protobson. Each event is written by
// an update of the document with an `_id`-only filter (the one filter the
// dev stack's database resolves by index), upserting: an action may arrive
// before its item (the topics are consumed independently), and creates the
// document that the ItemAdded completes. History entries are keyed by event
// id, so a redelivered event sets the same entry again: idempotent by
// construction, and whatever the order of delivery across topics. An
// ItemAdded of an item without a document is inserted instead (newDocument,
// Store.insertNew): the same document, at the cost of a bulk insert.
const (
	fieldItem  = "item"
	fieldAdded = "added"
	fieldBuys  = "buys"
	fieldSells = "sells"
	fieldPawns = "pawns"
)

// Field paths of the listings' filters and indexes.
const (
	itemName     = fieldItem + ".name"
	itemCategory = fieldItem + ".category"
	itemState    = fieldItem + ".state"
)

// historyField is the map of history entries an action kind writes into.
var historyField = map[app.Kind]string{app.KindBuy: fieldBuys, app.KindSell: fieldSells, app.KindPawn: fieldPawns}

// updateOf is the update that writes one event into its item's document,
// and the size of what it sets (for the document size limit).
func updateOf(kind app.Kind, d app.Document) (bson.D, int, error) {
	switch kind {
	case app.KindItem:
		ev, ok := d.Msg.(*eventsv1.ItemAdded)
		if !ok {
			return nil, 0, fmt.Errorf("an item event is %T, not an ItemAdded", d.Msg)
		}
		item, err := protobson.Marshal(ev.GetItem())
		if err != nil {
			return nil, 0, err
		}
		added, err := protobson.Marshal(ev.GetEnvelope())
		if err != nil {
			return nil, 0, err
		}
		return bson.D{{Key: "$set", Value: bson.D{{Key: fieldItem, Value: item}, {Key: fieldAdded, Value: added}}}}, len(item) + len(added), nil
	}
	field, ok := historyField[kind]
	if !ok {
		return nil, 0, fmt.Errorf("unknown event kind %q", kind)
	}
	action, err := actionOf(d.Msg)
	if err != nil {
		return nil, 0, err
	}
	raw, err := protobson.Marshal(action)
	if err != nil {
		return nil, 0, err
	}
	// The event id becomes a field name: a '.' would make it a path, a
	// leading '$' an operator. Ingest validates it as a UUID; this guards
	// every other writer.
	if d.ID == "" || strings.ContainsAny(d.ID, ".\x00") || strings.HasPrefix(d.ID, "$") {
		return nil, 0, fmt.Errorf("event id %q cannot be a field name", d.ID)
	}
	return bson.D{{Key: "$set", Value: bson.D{{Key: field + "." + d.ID, Value: raw}}}}, len(raw), nil
}

// newDocument is the document an ItemAdded creates when its item has none
// yet: what its upsert (updateOf) would create. The size is that of the
// fields it sets, as updateOf's.
func newDocument(d app.Document) (bson.D, int, error) {
	upd, size, err := updateOf(app.KindItem, d)
	if err != nil {
		return nil, 0, err
	}
	set, ok := upd[0].Value.(bson.D)
	if !ok || upd[0].Key != "$set" {
		return nil, 0, fmt.Errorf("an item's update is %v, not a $set", upd)
	}
	return append(bson.D{{Key: "_id", Value: d.ItemID}}, set...), size, nil
}

// actionOf is the action an action event carries.
func actionOf(m proto.Message) (proto.Message, error) {
	switch ev := m.(type) {
	case *eventsv1.ItemBought:
		return ev.GetBuy(), nil
	case *eventsv1.ItemSold:
		return ev.GetSell(), nil
	case *eventsv1.ItemPawned:
		return ev.GetPawn(), nil
	}
	return nil, fmt.Errorf("%T is not an action event", m)
}

// errNoItem is a stored document without its item: its actions arrived,
// its ItemAdded not yet.
var errNoItem = errors.New("the document holds no item yet")

// itemWithHistory reads a stored document back: the item, and each history
// ordered by date (then event id, for actions of the same millisecond).
func itemWithHistory(raw bson.Raw) (*auctionv1.ItemWithHistory, error) {
	v, err := raw.LookupErr(fieldItem)
	if err != nil {
		return nil, errNoItem
	}
	itemDoc, ok := v.DocumentOK()
	if !ok {
		return nil, fmt.Errorf("stored item: %q is a %s, not a document", fieldItem, v.Type)
	}
	out := &auctionv1.ItemWithHistory{Item: new(auctionv1.Item)}
	if err := protobson.Unmarshal(itemDoc, out.Item); err != nil {
		return nil, fmt.Errorf("decode stored item: %w", err)
	}
	if out.Buys, err = history(raw, fieldBuys, func() *auctionv1.Buy { return new(auctionv1.Buy) }); err != nil {
		return nil, err
	}
	if out.Sells, err = history(raw, fieldSells, func() *auctionv1.Sell { return new(auctionv1.Sell) }); err != nil {
		return nil, err
	}
	if out.Pawns, err = history(raw, fieldPawns, func() *auctionv1.Pawn { return new(auctionv1.Pawn) }); err != nil {
		return nil, err
	}
	return out, nil
}

// history decodes the entries of the map field, oldest first.
func history[A interface {
	proto.Message
	comparable
}](raw bson.Raw, field string, newAction func() A) ([]A, error) {
	v, err := raw.LookupErr(field)
	if err != nil {
		return nil, nil // no entry yet
	}
	m, ok := v.DocumentOK()
	if !ok {
		return nil, fmt.Errorf("stored %s: a %s, not a document", field, v.Type)
	}
	elems, err := m.Elements()
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", field, err)
	}
	type keyed struct {
		id   string
		at   time.Time
		item A
	}
	entries := make([]keyed, 0, len(elems))
	for _, e := range elems {
		doc, ok := e.Value().DocumentOK()
		if !ok {
			return nil, fmt.Errorf("stored %s.%s: not a document", field, e.Key())
		}
		a := newAction()
		if err := protobson.Unmarshal(doc, a); err != nil {
			return nil, fmt.Errorf("decode stored %s.%s: %w", field, e.Key(), err)
		}
		entries = append(entries, keyed{id: e.Key(), at: dateOf(a), item: a})
	}
	sort.Slice(entries, func(i, j int) bool {
		if !entries[i].at.Equal(entries[j].at) {
			return entries[i].at.Before(entries[j].at)
		}
		return entries[i].id < entries[j].id
	})
	out := make([]A, len(entries))
	for i, e := range entries {
		out[i] = e.item
	}
	return out, nil
}

// dateOf is an action's date (the zero time when it has none).
func dateOf(m proto.Message) time.Time {
	switch a := m.(type) {
	case *auctionv1.Buy:
		return a.GetDate().AsTime()
	case *auctionv1.Sell:
		return a.GetDate().AsTime()
	case *auctionv1.Pawn:
		return a.GetDate().AsTime()
	}
	return time.Time{}
}
