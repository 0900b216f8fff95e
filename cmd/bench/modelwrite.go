package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/pawnshop/auction/internal/protobson"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// modelWrite is one event as the worker's model writes it: an upsert of
// its item's document, filtered by _id only, that $sets the event's fields
// (ItemAdded: item and added; an action: "<buys|sells|pawns>.<event id>").
// Redelivered, it sets the same values again: idempotent. An ItemAdded
// (Insert) is first tried as an insert of the document it creates, as the
// worker does for new items.
type modelWrite struct {
	ItemID string
	Set    []setField
	Insert bool
}

// setField is one field a model write sets.
type setField struct {
	Key string
	Msg proto.Message
}

// fields encodes what w sets with protobson.
func (w modelWrite) fields() (bson.D, error) {
	set := make(bson.D, 0, len(w.Set))
	for _, f := range w.Set {
		raw, err := protobson.Marshal(f.Msg)
		if err != nil {
			return nil, err
		}
		set = append(set, bson.E{Key: f.Key, Value: raw})
	}
	return set, nil
}

// model encodes w as the driver's UpdateOne upsert.
func (w modelWrite) model() (mongo.WriteModel, error) {
	set, err := w.fields()
	if err != nil {
		return nil, err
	}
	return mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: w.ItemID}}).
		SetUpdate(bson.D{{Key: "$set", Value: set}}).SetUpsert(true), nil
}

// document encodes w as the new document its upsert would create.
func (w modelWrite) document() (bson.D, error) {
	set, err := w.fields()
	if err != nil {
		return nil, err
	}
	return append(bson.D{{Key: "_id", Value: w.ItemID}}, set...), nil
}

// writeBatch is what the worker's store does with a batch, and nothing
// more: the ItemAdded events inserted as new documents by one unordered
// InsertMany (those whose document exists become upserts), then each
// event's upsert encoded and sent in unordered BulkWrites of at most
// perCommand upserts (one BulkWrite of the whole batch when perCommand is
// 0 or larger than the batch).
//
// FerretDB v1 keeps the connection of every update statement that matched
// a document open until its update command returns, from a pool of 100
// SQLite connections: a command with about 100 matching upserts (or several
// concurrent ones adding up to that) waits forever for a connection. The
// harness caps its commands below that (-upserts-per-command).
func writeBatch(ctx context.Context, c *mongo.Collection, ws []modelWrite, perCommand int) error {
	ws, err := insertNew(ctx, c, ws)
	if err != nil {
		return err
	}
	models := make([]mongo.WriteModel, 0, len(ws))
	for _, w := range ws {
		m, err := w.model()
		if err != nil {
			return err
		}
		models = append(models, m)
	}
	if perCommand <= 0 {
		perCommand = len(models)
	}
	for i := 0; i < len(models); i += perCommand {
		if err := bulkWrite(ctx, c, models[i:min(len(models), i+perCommand)]); err != nil {
			return err
		}
	}
	return nil
}

// bulkWrite sends models as one unordered BulkWrite and sends again those
// that lost an upsert race (E11000: two concurrent upserts of one new _id,
// e.g. an item and its buy written at once; the loser finds the document
// the next time), as the worker does.
func bulkWrite(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel) error {
	for attempt := 0; ; attempt++ {
		_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if err == nil {
			return nil
		}
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 || attempt >= 5 {
			return fmt.Errorf("bulk write into %s: %w", c.Name(), err)
		}
		var again []mongo.WriteModel
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return fmt.Errorf("bulk write into %s: %w", c.Name(), err)
			}
			again = append(again, models[we.Index])
		}
		models = again
	}
}

// insertNew inserts the documents of the ItemAdded events of ws and
// returns the writes left: the others, and the ItemAdded events whose
// document exists (E11000).
func insertNew(ctx context.Context, c *mongo.Collection, ws []modelWrite) ([]modelWrite, error) {
	var rest, sent []modelWrite
	var docs []any
	for _, w := range ws {
		if !w.Insert {
			rest = append(rest, w)
			continue
		}
		d, err := w.document()
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
		sent = append(sent, w)
	}
	if len(docs) == 0 {
		return rest, nil
	}
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return rest, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, fmt.Errorf("insert into %s: %w", c.Name(), err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return nil, fmt.Errorf("insert into %s: %w", c.Name(), err)
		}
		rest = append(rest, sent[we.Index])
	}
	return rest, nil
}
