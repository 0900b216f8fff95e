package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/protobuf/proto"
)

// The harness builds its documents from the generated types and
// internal/protobson only: it is a client of the platform, not a part of
// it. What it must know of the worker's storage (the collection, the
// document's shape, its indexes, the queries of a fetch and a listing) is
// written down here, and every ingest round checks it against what the
// platform's own workers wrote (checkDocs compares every document,
// checkIndexes the indexes), so a change on the worker's side fails the run
// instead of skewing a baseline.

// itemsColl is the worker's one collection: one document per item.
const itemsColl = "items"

// The stored document's fields (protobson: JSON names, enums as names,
// timestamps as dates).
const (
	fieldItem  = "item"
	fieldAdded = "added"
	fieldBuys  = "buys"
	fieldSells = "sells"
	fieldPawns = "pawns"
)

// itemDoc is an item as a worker stores it: {_id: item id, item, added:
// the ItemAdded's envelope, buys / sells / pawns: {event id: action}}. An
// action map is absent until the item has such an action.
type itemDoc struct {
	ID    string
	Item  *auctionv1.Item
	Added *eventsv1.Envelope
	Buys  map[string]*auctionv1.Buy
	Sells map[string]*auctionv1.Sell
	Pawns map[string]*auctionv1.Pawn
}

// document encodes d as the worker stores it, _id first.
func (d *itemDoc) document() (bson.D, error) {
	doc := bson.D{{Key: "_id", Value: d.ID}}
	var errs []error
	add := func(key string, m proto.Message) {
		raw, err := protobson.Marshal(m)
		errs = append(errs, err)
		doc = append(doc, bson.E{Key: key, Value: raw})
	}
	if d.Item != nil {
		add(fieldItem, d.Item)
		add(fieldAdded, d.Added)
	}
	for _, m := range []struct {
		key string
		m   map[string]proto.Message
	}{{fieldBuys, asMessages(d.Buys)}, {fieldSells, asMessages(d.Sells)}, {fieldPawns, asMessages(d.Pawns)}} {
		if len(m.m) == 0 {
			continue
		}
		var sub bson.D
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			raw, err := protobson.Marshal(m.m[k])
			errs = append(errs, err)
			sub = append(sub, bson.E{Key: k, Value: raw})
		}
		doc = append(doc, bson.E{Key: m.key, Value: sub})
	}
	return doc, errors.Join(errs...)
}

func asMessages[M proto.Message](m map[string]M) map[string]proto.Message {
	out := make(map[string]proto.Message, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// decodeItemDoc decodes a stored document; a field the model does not
// have is an error, so a worker writing something else is noticed.
func decodeItemDoc(raw bson.Raw) (*itemDoc, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	d := &itemDoc{}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "_id":
			d.ID, _ = v.StringValueOK()
		case fieldItem:
			d.Item = &auctionv1.Item{}
			err = unmarshalValue(v, d.Item)
		case fieldAdded:
			d.Added = &eventsv1.Envelope{}
			err = unmarshalValue(v, d.Added)
		case fieldBuys:
			d.Buys, err = decodeMap[auctionv1.Buy](v)
		case fieldSells:
			d.Sells, err = decodeMap[auctionv1.Sell](v)
		case fieldPawns:
			d.Pawns, err = decodeMap[auctionv1.Pawn](v)
		default:
			err = errors.New("a field the harness's model does not have")
		}
		if err != nil {
			return nil, fmt.Errorf("item document %q, field %s: %w", d.ID, e.Key(), err)
		}
	}
	return d, nil
}

func unmarshalValue(v bson.RawValue, m proto.Message) error {
	doc, ok := v.DocumentOK()
	if !ok {
		return fmt.Errorf("a %s, not a document", v.Type)
	}
	return protobson.Unmarshal(doc, m)
}

// decodeMap decodes an action map {event id: action}.
func decodeMap[A any, PA interface {
	*A
	proto.Message
}](v bson.RawValue) (map[string]PA, error) {
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, fmt.Errorf("a %s, not a document", v.Type)
	}
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	out := make(map[string]PA, len(elems))
	for _, e := range elems {
		a := PA(new(A))
		if err := unmarshalValue(e.Value(), a); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Key(), err)
		}
		out[e.Key()] = a
	}
	return out, nil
}

// equal says whether two documents hold the same item and history.
func (d *itemDoc) equal(o *itemDoc) bool {
	return d.ID == o.ID && proto.Equal(d.Item, o.Item) && proto.Equal(d.Added, o.Added) &&
		mapsEqual(d.Buys, o.Buys) && mapsEqual(d.Sells, o.Sells) && mapsEqual(d.Pawns, o.Pawns)
}

func mapsEqual[M proto.Message](a, b map[string]M) bool {
	return maps.EqualFunc(a, b, func(x, y M) bool { return proto.Equal(x, y) })
}

// history is what a worker's fetch answers for d: the item and its
// actions, oldest first (by date, then event id).
func (d *itemDoc) history() *auctionv1.ItemWithHistory {
	return &auctionv1.ItemWithHistory{Item: d.Item,
		Buys:  sortedActions(d.Buys, func(a *auctionv1.Buy) int64 { return a.GetDate().AsTime().UnixNano() }),
		Sells: sortedActions(d.Sells, func(a *auctionv1.Sell) int64 { return a.GetDate().AsTime().UnixNano() }),
		Pawns: sortedActions(d.Pawns, func(a *auctionv1.Pawn) int64 { return a.GetDate().AsTime().UnixNano() })}
}

func sortedActions[A any](m map[string]A, date func(A) int64) []A {
	keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		return cmp.Or(cmp.Compare(date(m[x]), date(m[y])), cmp.Compare(x, y))
	})
	out := make([]A, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// workerIndexes are the indexes a worker creates at start on its items:
// by name, category and state, with _id (the page order).
func workerIndexes() map[string][]bson.D {
	return map[string][]bson.D{itemsColl: {
		{{Key: fieldItem + ".name", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: fieldItem + ".category", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: fieldItem + ".state", Value: 1}, {Key: "_id", Value: 1}},
	}}
}

// errNotFound is queryItem's answer for an id that is not stored.
var errNotFound = errors.New("item not found")

// queryItem reads an item and its history as a worker's fetch does: one
// findOne by _id, decoded, the history sorted by date then event id.
func queryItem(ctx context.Context, db *mongo.Database, id string) (*auctionv1.ItemWithHistory, error) {
	raw, err := db.Collection(itemsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find item: %w", err)
	}
	d, err := decodeItemDoc(raw)
	if err != nil {
		return nil, err
	}
	if d.Item == nil {
		return nil, errNotFound // actions arrived before the item: not an item yet
	}
	return d.history(), nil
}
