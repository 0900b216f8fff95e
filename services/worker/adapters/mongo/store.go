// Package mongo stores the worker's events in MongoDB through the protobuf
// BSON codec and reads items back with their history.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// Store is the worker's MongoDB database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	// Metrics, when set, observes every batch write.
	Metrics *StoreMetrics
}

// StoreMetrics observes the batch writes: their sizes and latencies by
// collection.
type StoreMetrics struct {
	BatchSize *prometheus.HistogramVec
	Duration  *prometheus.HistogramVec
}

// NewStoreMetrics registers the store's metrics on reg.
func NewStoreMetrics(reg prometheus.Registerer) (*StoreMetrics, error) {
	m := &StoreMetrics{
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auction_worker_mongo_batch_size",
			Help: "Documents per MongoDB batch write, by collection.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"collection"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auction_worker_mongo_write_duration_seconds",
			Help: "Latency of MongoDB batch writes, by collection and result.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"collection", "result"}),
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

// Connect opens a client on uri (with the protobuf codec registered) and
// checks the server answers.
func Connect(ctx context.Context, uri, database string) (*Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetRegistry(protobson.NewRegistry()).
		SetServerSelectionTimeout(10 * time.Second).SetAppName("auction-worker"))
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

// Field paths of the stored events (proto JSON names, see protobson).
const (
	itemName     = "item.name"
	itemCategory = "item.category"
	itemState    = "item.state"
)

// actionCollection is one action collection: the event field that holds
// the action, and how its documents join their items.
type actionCollection struct {
	coll, field string
	attach      func(ctx context.Context, cur *mongo.Cursor, byID map[string]*auctionv1.ItemWithHistory) error
}

var actionCollections = []actionCollection{
	{app.BuysCollection, "buy", attachActions(func(e *eventsv1.ItemBought) *auctionv1.Buy { return e.GetBuy() },
		func(it *auctionv1.ItemWithHistory, a *auctionv1.Buy) { it.Buys = append(it.Buys, a) })},
	{app.SellsCollection, "sell", attachActions(func(e *eventsv1.ItemSold) *auctionv1.Sell { return e.GetSell() },
		func(it *auctionv1.ItemWithHistory, a *auctionv1.Sell) { it.Sells = append(it.Sells, a) })},
	{app.PawnsCollection, "pawn", attachActions(func(e *eventsv1.ItemPawned) *auctionv1.Pawn { return e.GetPawn() },
		func(it *auctionv1.ItemWithHistory, a *auctionv1.Pawn) { it.Pawns = append(it.Pawns, a) })},
}

// attachActions decodes each event document of a cursor through the
// registry's protobuf codec and appends its action to its item. Each batch
// the cursor fetches runs under ctx, the request's: a fetch that was
// cancelled or ran out of time stops reading.
func attachActions[E any, PE interface {
	*E
	proto.Message
}, A interface{ GetItemId() string }](action func(PE) A, add func(*auctionv1.ItemWithHistory, A)) func(context.Context, *mongo.Cursor, map[string]*auctionv1.ItemWithHistory) error {
	return func(ctx context.Context, cur *mongo.Cursor, byID map[string]*auctionv1.ItemWithHistory) error {
		for cur.Next(ctx) {
			ev := PE(new(E))
			if err := cur.Decode(ev); err != nil {
				return fmt.Errorf("decode %s document: %w", ev.ProtoReflect().Descriptor().FullName(), err)
			}
			a := action(ev)
			if it := byID[a.GetItemId()]; it != nil {
				add(it, a)
			}
		}
		return cur.Err()
	}
}

// EnsureIndexes creates the indexes the fetches use: items by name, category
// and state (with _id, the page order), actions by item id and date.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	items := []mongo.IndexModel{
		{Keys: bson.D{{Key: itemName, Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: itemCategory, Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: itemState, Value: 1}, {Key: "_id", Value: 1}}},
	}
	// One index per command: FerretDB v1 mis-indexes a createIndexes that
	// lists several indexes which already exist (a restart), and panics.
	for _, idx := range items {
		if _, err := s.db.Collection(app.ItemsCollection).Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("create index on %s: %w", app.ItemsCollection, err)
		}
	}
	for _, a := range actionCollections {
		idx := mongo.IndexModel{Keys: bson.D{{Key: a.field + ".itemId", Value: 1}, {Key: a.field + ".date", Value: 1}}}
		if _, err := s.db.Collection(a.coll).Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("create index on %s: %w", a.coll, err)
		}
	}
	return nil
}

// Save implements app.Store: one unordered batch insert; a document whose
// id is already stored is a redelivery and is skipped, so an event never
// creates a second document. A batch insert (not replace-upserts) is what
// keeps ingest off one round trip per event: MongoDB, and FerretDB even more
// so, executes upserts one document at a time.
//
// Documents that can never be stored are reported in an *app.RejectedError
// while the others are stored: those protobson cannot encode (e.g. a
// timestamp outside years 1 to 9999), those over 16 MiB, and those the
// server refuses with a per-document write error that is neither a
// duplicate key nor transient (see classifyInsert).
func (s *Store) Save(ctx context.Context, collection string, docs []app.Document) error {
	if len(docs) == 0 {
		return nil
	}
	var rejected []app.Rejection
	batch := make([]any, 0, len(docs))
	sent := make([]app.Document, 0, len(docs))
	for _, d := range docs {
		doc, err := protobson.MarshalWithID(d.ID, d.Msg)
		if err != nil {
			rejected = append(rejected, app.Rejection{ID: d.ID, Reason: app.ReasonEncode, Err: fmt.Errorf("encode: %w", err)})
			continue
		}
		if n := len(doc); n > maxDocumentBytes {
			rejected = append(rejected, app.Rejection{ID: d.ID, Reason: app.ReasonRejected,
				Err: fmt.Errorf("document of %d bytes is over the %d-byte limit", n, maxDocumentBytes)})
			continue
		}
		batch = append(batch, doc)
		sent = append(sent, d)
	}
	var err error
	if len(batch) > 0 {
		start := time.Now()
		_, err = s.db.Collection(collection).InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		err = classifyInsert(err, sent)
		if s.Metrics != nil {
			result := "ok"
			if err != nil {
				result = "error"
			}
			s.Metrics.BatchSize.WithLabelValues(collection).Observe(float64(len(batch)))
			s.Metrics.Duration.WithLabelValues(collection, result).Observe(time.Since(start).Seconds())
		}
	}
	var rej *app.RejectedError
	switch {
	case err == nil && len(rejected) == 0:
		return nil
	case err == nil:
		return &app.RejectedError{Rejections: rejected}
	case errors.As(err, &rej):
		return &app.RejectedError{Rejections: append(rejected, rej.Rejections...)}
	}
	// Transient, or refused as a whole (the caller splits the batch and
	// the rejections found above are found again).
	return fmt.Errorf("insert %d documents into %s: %w", len(batch), collection, err)
}

// Item implements app.ItemReader.
func (s *Store) Item(ctx context.Context, id string) (*auctionv1.ItemWithHistory, error) {
	raw, err := s.db.Collection(app.ItemsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, app.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find item: %w", err)
	}
	item, err := decodeItem(raw)
	if err != nil {
		return nil, err
	}
	out := []*auctionv1.ItemWithHistory{{Item: item}}
	if err := s.attachHistory(ctx, out); err != nil {
		return nil, err
	}
	return out[0], nil
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

// Items implements app.ItemReader.
func (s *Store) Items(ctx context.Context, f app.Filter, after string, limit int) ([]*auctionv1.ItemWithHistory, error) {
	q, err := filterDocument(f, after)
	if err != nil {
		return nil, err
	}
	cur, err := s.db.Collection(app.ItemsCollection).Find(ctx, q,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find items: %w", err)
	}
	defer closeCursor(ctx, cur)
	var out []*auctionv1.ItemWithHistory
	for cur.Next(ctx) {
		item, err := decodeItem(cur.Current)
		if err != nil {
			return nil, err
		}
		out = append(out, &auctionv1.ItemWithHistory{Item: item})
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	if err := s.attachHistory(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// closeCursor releases a cursor on the server also when the request's
// context ended (the reason a read stopped early), so it does not linger
// there until the server's cursor timeout.
func closeCursor(ctx context.Context, cur *mongo.Cursor) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = cur.Close(cctx)
}

func decodeItem(raw bson.Raw) (*auctionv1.Item, error) {
	var ev eventsv1.ItemAdded
	if err := protobson.Unmarshal(raw, &ev); err != nil { // the codec the registry uses, on a raw document
		return nil, fmt.Errorf("decode item document: %w", err)
	}
	return ev.GetItem(), nil
}

// attachHistory loads the buys, sells and pawns of items: one query per
// action collection for the whole page, oldest first.
func (s *Store) attachHistory(ctx context.Context, items []*auctionv1.ItemWithHistory) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]string, len(items))
	byID := make(map[string]*auctionv1.ItemWithHistory, len(items))
	for i, it := range items {
		ids[i] = it.GetItem().GetId()
		byID[ids[i]] = it
	}
	for _, a := range actionCollections {
		var q bson.D
		if len(ids) == 1 {
			q = bson.D{{Key: a.field + ".itemId", Value: ids[0]}}
		} else {
			q = bson.D{{Key: a.field + ".itemId", Value: bson.D{{Key: "$in", Value: ids}}}}
		}
		cur, err := s.db.Collection(a.coll).Find(ctx, q, options.Find().SetSort(bson.D{{Key: a.field + ".date", Value: 1}, {Key: "_id", Value: 1}}))
		if err != nil {
			return fmt.Errorf("find %s: %w", a.coll, err)
		}
		err = a.attach(ctx, cur, byID)
		closeCursor(ctx, cur)
		if err != nil {
			return fmt.Errorf("read %s: %w", a.coll, err)
		}
	}
	return nil
}
