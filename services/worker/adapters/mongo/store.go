// Package mongo stores the worker's events in MongoDB through the protobuf
// BSON codec and reads items back with their history.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Store is the worker's MongoDB database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	// Metrics, when set, observes every batch write.
	Metrics *StoreMetrics
	// created are the items whose documents this store's action upserts
	// created (see insertNew).
	created createdItems
}

// StoreMetrics observes the bulk writes: their sizes and latencies by event
// kind (item, buy, sell, pawn).
type StoreMetrics struct {
	BatchSize *prometheus.HistogramVec
	Duration  *prometheus.HistogramVec
}

// NewStoreMetrics registers the store's metrics on reg.
func NewStoreMetrics(reg prometheus.Registerer) (*StoreMetrics, error) {
	m := &StoreMetrics{
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auction_worker_mongo_batch_size",
			Help: "Events per MongoDB bulk write, by event kind.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"kind"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auction_worker_mongo_write_duration_seconds",
			Help: "Latency of MongoDB bulk writes, by event kind and result.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"kind", "result"}),
	}
	for _, c := range []prometheus.Collector{m.BatchSize, m.Duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var (
	_ app.Store      = (*Store)(nil)
	_ app.ItemReader = (*Store)(nil)
)

// Option changes how Connect opens the client.
type Option func(*options.ClientOptions)

// WithMonitor reports every command the client sends to m (nil: none);
// tests count a fetch's commands with it.
func WithMonitor(m *event.CommandMonitor) Option {
	return func(o *options.ClientOptions) {
		if m != nil {
			o.SetMonitor(m)
		}
	}
}

// Connect opens a client on uri (with the protobuf codec registered) and
// checks the server answers.
func Connect(ctx context.Context, uri, database string, opts ...Option) (*Store, error) {
	co := options.Client().ApplyURI(uri).SetRegistry(protobson.NewRegistry()).
		SetServerSelectionTimeout(10 * time.Second).SetAppName("auction-worker")
	for _, o := range opts {
		o(co)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("ping mongodb: %w", err)
	}
	return &Store{client: client, db: client.Database(database)}, nil
}

// Close disconnects; a Store that was never opened has nothing to close.
func (s *Store) Close(ctx context.Context) error {
	if s.client == nil {
		return nil
	}
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from mongodb: %w", err)
	}
	return nil
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// EnsureIndexes creates the indexes the listings use: items by name,
// category and state, with _id (the page order). A fetch by id uses the
// `_id` index.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	items := []mongo.IndexModel{
		{Keys: bson.D{{Key: itemName, Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: itemCategory, Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: itemState, Value: 1}, {Key: "_id", Value: 1}}},
	}
	// One index per command: FerretDB v1 mis-indexes a createIndexes that
	// lists several indexes which already exist (a restart), and panics.
	for _, idx := range items {
		if _, err := s.db.Collection(ItemsCollection).Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("create index on %s: %w", ItemsCollection, err)
		}
	}
	return nil
}

// ItemsCollection is the collection of the item documents (document.go).
const ItemsCollection = "items"

// maxUpdatesPerCommand bounds the upserts of one bulk write command. The dev
// stack's FerretDB v1 keeps an SQLite connection for every update of a
// command that matched a document until the command returns, from a pool of
// 100: a command with about 100 matching updates (or several concurrent
// commands adding up to that) waits for a connection forever. 32 leaves room
// for three workers' commands and the reads; on MongoDB a command of 32 is
// still a few round trips per batch.
const maxUpdatesPerCommand = 32

// Save implements app.Store: unordered bulk writes (maxUpdatesPerCommand
// each) of `_id`-filtered upserts, one per event, into the events' item
// documents (document.go); ItemAdded events of new items are inserted
// first, in one command (insertNew).
// An update is keyed by event id, so a redelivered event writes the same
// entry again. A bulk write, not one call per event, keeps ingest off one
// round trip per event.
//
// Events that can never be stored are reported in an *app.RejectedError
// while the others are stored: those protobson cannot encode (e.g. a
// timestamp outside years 1 to 9999), those whose entry alone exceeds the
// document size limit, and those the server refuses with a per-operation
// write error that is neither transient nor a race (see classifyWrite),
// such as an item whose document grew beyond 16 MiB.
func (s *Store) Save(ctx context.Context, kind app.Kind, docs []app.Document) error {
	if kind == app.KindItem {
		var err error
		if docs, err = s.insertNew(ctx, docs); err != nil {
			return err
		}
	}
	if len(docs) == 0 {
		return nil
	}
	var rejected []app.Rejection
	models := make([]mongo.WriteModel, 0, len(docs))
	sent := make([]app.Document, 0, len(docs))
	for _, d := range docs {
		upd, size, err := updateOf(kind, d)
		if err != nil {
			rejected = append(rejected, app.Rejection{ID: d.ID, Reason: app.ReasonEncode, Err: fmt.Errorf("encode: %w", err)})
			continue
		}
		if size > maxDocumentBytes {
			rejected = append(rejected, app.Rejection{ID: d.ID, Reason: app.ReasonRejected,
				Err: fmt.Errorf("entry of %d bytes is over the %d-byte document limit", size, maxDocumentBytes)})
			continue
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: d.ItemID}}).SetUpdate(upd).SetUpsert(true))
		sent = append(sent, d)
	}
	var err error
	for i := 0; i < len(models) && err == nil; i += maxUpdatesPerCommand {
		end := min(len(models), i+maxUpdatesPerCommand)
		start := time.Now()
		var res *mongo.BulkWriteResult
		res, err = s.db.Collection(ItemsCollection).BulkWrite(ctx, models[i:end], options.BulkWrite().SetOrdered(false))
		if kind != app.KindItem && res != nil {
			s.created.add(res.UpsertedIDs)
		}
		err = classifyWrite(err, sent[i:end])
		var rej *app.RejectedError
		if errors.As(err, &rej) {
			// Per-document and permanent: the rest of the command was
			// written; go on with the next one.
			rejected = append(rejected, rej.Rejections...)
			err = nil
		}
		if s.Metrics != nil {
			result := "ok"
			if err != nil {
				result = "error"
			}
			s.Metrics.BatchSize.WithLabelValues(string(kind)).Observe(float64(end - i))
			s.Metrics.Duration.WithLabelValues(string(kind), result).Observe(time.Since(start).Seconds())
		}
	}
	switch {
	case err == nil && len(rejected) == 0:
		return nil
	case err == nil:
		return &app.RejectedError{Rejections: rejected}
	}
	// Transient, or refused as a whole (the caller splits the batch and
	// the rejections found above are found again).
	return fmt.Errorf("write %d %s events into %s: %w", len(models), kind, ItemsCollection, err)
}

// insertNew stores ItemAdded events whose item has no document yet as whole
// new documents, {_id, item, added}, with one unordered InsertMany, and
// returns the events left to the upserts: those whose document exists (a
// duplicate key: its actions came first, a re-add, a redelivery), and those
// refused or not encodable (the upserts classify them). A new document is
// what the upsert would have created, but an insert is one statement of a
// batch where each upsert is a lookup and a write of its own: on the dev
// stack's database an insert of 500 costs about what 30 upserts do, and
// most ItemAdded events are of new items. Items whose documents this
// store's action upserts created (the actions came first: the topics are
// consumed independently) go straight to the upserts: on the dev stack's
// database one failing document makes the whole insert fall back to one
// transaction per document.
func (s *Store) insertNew(ctx context.Context, docs []app.Document) ([]app.Document, error) {
	var rest []app.Document
	news := make([]any, 0, len(docs))
	sent := make([]app.Document, 0, len(docs))
	for _, d := range docs {
		if s.created.take(d.ItemID) {
			rest = append(rest, d) // its document exists: an insert would fail
			continue
		}
		doc, size, err := newDocument(d)
		if err != nil || size > maxDocumentBytes {
			rest = append(rest, d)
			continue
		}
		news = append(news, doc)
		sent = append(sent, d)
	}
	if len(news) == 0 {
		return rest, nil
	}
	start := time.Now()
	_, err := s.db.Collection(ItemsCollection).InsertMany(ctx, news, options.InsertMany().SetOrdered(false))
	if s.Metrics != nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		s.Metrics.BatchSize.WithLabelValues(string(app.KindItem)).Observe(float64(len(news)))
		s.Metrics.Duration.WithLabelValues(string(app.KindItem), result).Observe(time.Since(start).Seconds())
	}
	if err == nil {
		return rest, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, fmt.Errorf("insert %d new items into %s: %w", len(news), ItemsCollection, err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(sent) {
			return nil, fmt.Errorf("insert %d new items into %s: a write error of document %d: %w", len(news), ItemsCollection, we.Index, err)
		}
		rest = append(rest, sent[we.Index])
	}
	return rest, nil
}

// Item implements app.ItemReader: one lookup of the `_id` index returns the
// item with its whole history.
func (s *Store) Item(ctx context.Context, id string) (*auctionv1.ItemWithHistory, error) {
	raw, err := s.db.Collection(ItemsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find item: %w", err)
	}
	out, err := itemWithHistory(raw)
	if errors.Is(err, errNoItem) {
		return nil, app.ErrNotFound // its actions arrived before it
	}
	return out, err
}

// filterDocument builds the query of a typed filter. Each value is a BSON
// string, so a name such as {"$ne": null} is matched literally.
func filterDocument(f app.Filter, after string) (bson.D, error) {
	var q bson.D
	switch {
	case f.Name != "":
		q = bson.D{{Key: itemName, Value: f.Name}}
	case f.Category != auctionv1.Category_CATEGORY_UNSPECIFIED:
		q = bson.D{{Key: itemCategory, Value: f.Category.String()}}
	case f.State != auctionv1.State_STATE_UNSPECIFIED:
		q = bson.D{{Key: itemState, Value: f.State.String()}}
	default:
		return nil, errors.New("empty item filter")
	}
	if after != "" {
		q = append(q, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	return q, nil
}

// Items implements app.ItemReader: one query of an index (field, _id)
// returns a page of items with their histories. The query carries the
// caller's deadline as maxTimeMS (listMaxTime without one), so the server
// stops a query the caller gave up on: the driver's Find never sends
// maxTimeMS (a cursor may outlive its first batch), and the dev stack's
// database answers a listing by scanning the collection for seconds, which
// would otherwise go on after the dispatcher answered 503 and slow every
// other read.
func (s *Store) Items(ctx context.Context, f app.Filter, after string, limit int) ([]*auctionv1.ItemWithHistory, error) {
	q, err := filterDocument(f, after)
	if err != nil {
		return nil, err
	}
	cmd := bson.D{
		{Key: "find", Value: ItemsCollection},
		{Key: "filter", Value: q},
		{Key: "sort", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "limit", Value: int64(limit)},
		{Key: "maxTimeMS", Value: maxTimeMS(ctx, listMaxTime)},
	}
	cur, err := s.db.RunCommandCursor(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("find items: %w", err)
	}
	defer closeCursor(ctx, cur)
	var out []*auctionv1.ItemWithHistory
	for cur.Next(ctx) {
		it, err := itemWithHistory(cur.Current)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	return out, nil
}

// listMaxTime bounds a listing's query on the server when the caller set
// no deadline.
const listMaxTime = 30 * time.Second

// maxTimeMS is what is left of ctx's deadline in whole milliseconds (at
// least 1), or otherwise in milliseconds.
func maxTimeMS(ctx context.Context, otherwise time.Duration) int64 {
	d := otherwise
	if deadline, ok := ctx.Deadline(); ok {
		d = time.Until(deadline)
	}
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

// closeCursor releases a cursor on the server also when the request's
// context ended (the reason a read stopped early), so it does not linger
// there until the server's cursor timeout.
func closeCursor(ctx context.Context, cur *mongo.Cursor) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = cur.Close(cctx)
}

// createdItems remembers the ids of the item documents that action upserts
// created, until their ItemAdded comes: a hint that spares that ItemAdded
// an insert bound to fail. It is only a hint: a document created by another
// worker or before a restart is found by the insert's duplicate key error.
// It is bounded; when full it starts over.
type createdItems struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// maxCreatedItems bounds createdItems (about 5 MiB of ids).
const maxCreatedItems = 65536

func (c *createdItems) add(upserted map[int64]any) {
	if len(upserted) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids)+len(upserted) > maxCreatedItems {
		c.ids = make(map[string]struct{}, len(upserted))
	}
	for _, id := range upserted {
		if s, ok := id.(string); ok {
			c.ids[s] = struct{}{}
		}
	}
}

// take reports whether id is remembered, and forgets it.
func (c *createdItems) take(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ids[id]; ok {
		delete(c.ids, id)
		return true
	}
	return false
}
