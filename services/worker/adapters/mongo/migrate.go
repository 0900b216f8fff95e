package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// legacyActions are the collections of the model before one document per
// item: each action event was its own document, keyed by event id.
var legacyActions = []struct {
	coll string
	kind app.Kind
	msg  func() proto.Message
}{
	{"buy_actions", app.KindBuy, func() proto.Message { return new(eventsv1.ItemBought) }},
	{"sell_actions", app.KindSell, func() proto.Message { return new(eventsv1.ItemSold) }},
	{"pawn_actions", app.KindPawn, func() proto.Message { return new(eventsv1.ItemPawned) }},
}

// migrateBatch is how many legacy documents one write carries.
const migrateBatch = 500

// MigrateLegacyActions moves the actions a database stored in the
// collections of the previous model (buy_actions, sell_actions,
// pawn_actions) into their items' documents, then drops those collections,
// so that an upgraded deployment keeps every item's history. It writes
// through Save (idempotent upserts), so it is safe to run again after an
// interruption and on several workers at once; a document that does not
// decode is logged and left behind (its collection is then kept). The items
// collection needs nothing: its documents already hold `item`.
func (s *Store) MigrateLegacyActions(ctx context.Context, log *slog.Logger) error {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	for _, l := range legacyActions {
		if !present[l.coll] {
			continue
		}
		moved, skipped, err := s.migrateCollection(ctx, l.coll, l.kind, l.msg, log)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", l.coll, err)
		}
		log.Info("moved the actions of the previous model into their items' documents", "collection", l.coll, "moved", moved, "skipped", skipped)
		if skipped > 0 {
			log.Warn("legacy collection kept: some of its documents could not be moved", "collection", l.coll, "skipped", skipped)
			continue
		}
		if err := s.db.Collection(l.coll).Drop(ctx); err != nil {
			return fmt.Errorf("drop %s: %w", l.coll, err)
		}
	}
	return nil
}

func (s *Store) migrateCollection(ctx context.Context, coll string, kind app.Kind, newMsg func() proto.Message, log *slog.Logger) (moved, skipped int, err error) {
	cur, err := s.db.Collection(coll).Find(ctx, bson.D{}, options.Find().SetBatchSize(migrateBatch))
	if err != nil {
		return 0, 0, fmt.Errorf("find: %w", err)
	}
	defer closeCursor(ctx, cur)
	var batch []app.Document
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.Save(ctx, kind, batch)
		var rej *app.RejectedError
		if errors.As(err, &rej) {
			skipped += len(rej.Rejections)
			for _, r := range rej.Rejections {
				log.Warn("legacy action not moved", "collection", coll, "event", r.ID, "err", r.Err)
			}
			err = nil
		}
		moved += len(batch)
		batch = batch[:0]
		return err
	}
	for cur.Next(ctx) {
		d, err := legacyDocument(cur.Current, newMsg())
		if err != nil {
			skipped++
			log.Warn("legacy action not moved", "collection", coll, "err", err)
			continue
		}
		batch = append(batch, d)
		if len(batch) == migrateBatch {
			if err := flush(); err != nil {
				return moved, skipped, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return moved, skipped, fmt.Errorf("read: %w", err)
	}
	return moved, skipped, flush()
}

// legacyDocument reads one action event of the previous model (the event
// itself, keyed by its event id) as the Document that writes it now.
func legacyDocument(raw bson.Raw, msg proto.Message) (app.Document, error) {
	if err := protobson.Unmarshal(raw, msg); err != nil {
		return app.Document{}, fmt.Errorf("decode: %w", err)
	}
	ev, ok := msg.(app.Event)
	if !ok {
		return app.Document{}, fmt.Errorf("%T is not an event", msg)
	}
	action, err := actionOf(msg)
	if err != nil {
		return app.Document{}, err
	}
	item := action.(interface{ GetItemId() string }).GetItemId()
	id := ev.GetEnvelope().GetEventId()
	if item == "" || id == "" {
		return app.Document{}, fmt.Errorf("event %q of item %q: no item id or event id", id, item)
	}
	return app.Document{ID: id, ItemID: item, Msg: msg}, nil
}
