package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/topics"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The harness builds its events and documents from the generated types,
// internal/kafkapub and internal/protobson only: it is a client of the
// platform, not a part of it. What it must know of the worker's storage
// (collections, keys, indexes, the fields a read queries) is written down
// here, and every run checks it against what the platform's own workers
// write (checkStored counts their documents by these collections,
// checkIndexes compares their indexes), so a change on the worker's side
// fails the run instead of skewing a baseline.

// The worker's collections: items keyed by item id, actions by event id.
const (
	itemsColl = "items"
	buysColl  = "buy_actions"
	sellsColl = "sell_actions"
	pawnsColl = "pawn_actions"
)

// document is an event as a worker stores it: its key and the event.
type document struct {
	ID  string
	Msg proto.Message
}

// actionColl is an action collection: the event field holding the action,
// and how a stored event joins its item's history.
type actionColl struct {
	coll, field string
	attach      func(raw bson.Raw, it *auctionv1.ItemWithHistory) error
}

var actionColls = []actionColl{
	{buysColl, "buy", func(raw bson.Raw, it *auctionv1.ItemWithHistory) error {
		var ev eventsv1.ItemBought
		err := protobson.Unmarshal(raw, &ev)
		it.Buys = append(it.Buys, ev.GetBuy())
		return err
	}},
	{sellsColl, "sell", func(raw bson.Raw, it *auctionv1.ItemWithHistory) error {
		var ev eventsv1.ItemSold
		err := protobson.Unmarshal(raw, &ev)
		it.Sells = append(it.Sells, ev.GetSell())
		return err
	}},
	{pawnsColl, "pawn", func(raw bson.Raw, it *auctionv1.ItemWithHistory) error {
		var ev eventsv1.ItemPawned
		err := protobson.Unmarshal(raw, &ev)
		it.Pawns = append(it.Pawns, ev.GetPawn())
		return err
	}},
}

// workerIndexes are the indexes a worker creates at start, by collection:
// items by name, category and state (with _id, the page order), actions by
// item id and date.
func workerIndexes() map[string][]bson.D {
	idx := map[string][]bson.D{itemsColl: {
		{{Key: "item.name", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "item.category", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "item.state", Value: 1}, {Key: "_id", Value: 1}},
	}}
	for _, a := range actionColls {
		idx[a.coll] = []bson.D{{{Key: a.field + ".itemId", Value: 1}, {Key: a.field + ".date", Value: 1}}}
	}
	return idx
}

// newEventID is a time-ordered UUIDv7, as the dispatcher's event ids are.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func envelope(at time.Time) *eventsv1.Envelope {
	return &eventsv1.Envelope{EventId: newEventID(), AcceptedAt: timestamppb.New(at), RequestId: requestid.New()}
}

// encodeEvent is the Kafka record of an event, as the dispatcher publishes
// it: the binary protobuf, keyed by item, with the event id and the message
// type in headers.
func encodeEvent(topic, key, eventID string, ev proto.Message) (kafkapub.Message, error) {
	value, err := proto.Marshal(ev)
	if err != nil {
		return kafkapub.Message{}, fmt.Errorf("encode %s event: %w", topic, err)
	}
	return kafkapub.Message{Topic: topic, Key: []byte(key), Value: value, Headers: map[string]string{
		topics.HeaderEventID: eventID,
		topics.HeaderType:    string(ev.ProtoReflect().Descriptor().FullName()),
	}}, nil
}

// newItem is the item an add request accepted at at stores: a new id when
// the request has none.
func newItem(req *auctionv1.AddItemRequest, at time.Time) *auctionv1.Item {
	id := req.GetId()
	if id == "" {
		id = newEventID()
	}
	return &auctionv1.Item{Id: id, Name: req.GetName(), Category: req.GetCategory(), PriceCents: req.GetPriceCents(),
		State: req.GetState(), AgeMonths: req.GetAgeMonths(), CreatedAt: timestamppb.New(at)}
}

// errNotFound is queryItem's answer for an id that is not stored.
var errNotFound = errors.New("item not found")

// queryItem reads an item and its history with the queries a worker's
// fetch runs: the item by _id, then each action collection by item id,
// oldest first.
func queryItem(ctx context.Context, db *mongo.Database, id string) (*auctionv1.ItemWithHistory, error) {
	raw, err := db.Collection(itemsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find item: %w", err)
	}
	var added eventsv1.ItemAdded
	if err := protobson.Unmarshal(raw, &added); err != nil {
		return nil, err
	}
	it := &auctionv1.ItemWithHistory{Item: added.GetItem()}
	for _, a := range actionColls {
		cur, err := db.Collection(a.coll).Find(ctx, bson.D{{Key: a.field + ".itemId", Value: id}},
			options.Find().SetSort(bson.D{{Key: a.field + ".date", Value: 1}, {Key: "_id", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", a.coll, err)
		}
		for cur.Next(ctx) {
			if err = a.attach(cur.Current, it); err != nil {
				break
			}
		}
		if err == nil {
			err = cur.Err()
		}
		_ = cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.coll, err)
		}
	}
	return it, nil
}
