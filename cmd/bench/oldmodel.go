package main

import (
	"context"
	"fmt"

	"github.com/pawnshop/auction/internal/protobson"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// The model before issue 14, kept for the bulk-insert baseline: every event
// its own document (the ItemAdded in items keyed by item id, each action in
// its collection keyed by event id), written with InsertMany. It shows what
// the database itself charges for the one-lookup model's upserts.
const (
	oldItemsColl = "items"
	oldBuysColl  = "buy_actions"
	oldSellsColl = "sell_actions"
	oldPawnsColl = "pawn_actions"
)

// document is an event as the old model stored it: its key and the event.
type document struct {
	ID  string
	Msg proto.Message
}

// oldIndexes are the old model's indexes: items by name, category and
// state; actions by item id and date.
func oldIndexes() map[string][]bson.D {
	idx := workerIndexes()
	for coll, field := range map[string]string{oldBuysColl: "buy", oldSellsColl: "sell", oldPawnsColl: "pawn"} {
		idx[coll] = []bson.D{{{Key: field + ".itemId", Value: 1}, {Key: field + ".date", Value: 1}}}
	}
	return idx
}

// insertBatch is what the old model's store did with a batch, and nothing
// more: encode each event with protobson, the key in _id first, one
// unordered InsertMany.
func insertBatch(ctx context.Context, c *mongo.Collection, docs []document) error {
	batch := make([]any, 0, len(docs))
	for _, d := range docs {
		doc, err := protobson.MarshalWithID(d.ID, d.Msg)
		if err != nil {
			return err
		}
		batch = append(batch, doc)
	}
	_, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	if err != nil {
		return fmt.Errorf("insert into %s: %w", c.Name(), err)
	}
	return nil
}
