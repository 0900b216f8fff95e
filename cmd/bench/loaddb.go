package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// parallel runs jobs 0..n-1 from par goroutines and returns the first
// error; after a failure the remaining jobs are skipped.
func parallel(ctx context.Context, n, par int, job func(ctx context.Context, k int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := job(ctx, k); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for k := 0; k < n && ctx.Err() == nil; k++ {
		select {
		case next <- k:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// insertDocs inserts item documents made by doc(i), i in [0, n), in
// batches from par goroutines with InsertMany: the documents as the
// worker's model holds them once every event is stored, loaded without
// replaying the events.
func (b *bench) insertDocs(ctx context.Context, db string, n, par, batch int, doc func(i int) *itemDoc) error {
	c := b.mongo.Database(db).Collection(itemsColl)
	return parallel(ctx, (n+batch-1)/batch, par, func(ctx context.Context, k int) error {
		docs := make([]any, 0, batch)
		for i := k * batch; i < min(n, (k+1)*batch); i++ {
			d, err := doc(i).document()
			if err != nil {
				return err
			}
			docs = append(docs, d)
		}
		if _, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("insert into %s.%s: %w", db, itemsColl, err)
		}
		return nil
	})
}

// loadItems loads n generated items (with or without history) into a fresh
// database named after name, with the worker's indexes, from par
// goroutines, checks the count and a sample of the documents, and returns
// the database's name and the items' ids.
func (b *bench) loadItems(ctx context.Context, name string, n int, history bool, par int) (string, []string, error) {
	db := b.db(name)
	if err := b.ensureIndexes(ctx, db, workerIndexes()); err != nil {
		return "", nil, err
	}
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Duration(n) * time.Millisecond)
	ids := make([]string, n)
	for i := range n {
		ids[i] = itemID(b.run, i)
	}
	gen := func(i int) *itemDoc {
		return itemEventsOf(i, ids[i], base.Add(time.Duration(i)*time.Millisecond)).doc(history)
	}
	t := time.Now()
	if err := b.insertDocs(ctx, db, n, par, b.s.WorkerConfig("x").BatchSize, gen); err != nil {
		return "", nil, fmt.Errorf("load %s: %w", name, err)
	}
	b.say("%s: %d items inserted in %s (%.0f docs/s)", name, n, time.Since(t).Round(time.Millisecond), float64(n)/time.Since(t).Seconds())
	if err := b.checkCount(ctx, db, n); err != nil {
		return "", nil, err
	}
	// A sample read back by _id must decode as the model.
	for range min(n, 20) {
		id := ids[rand.IntN(n)]
		raw, err := b.mongo.Database(db).Collection(itemsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if err != nil {
			return "", nil, fmt.Errorf("read back %s from %s: %w", id, db, err)
		}
		d, err := decodeItemDoc(raw)
		if err != nil {
			return "", nil, err
		}
		if d.Item.GetId() != id || (history && len(d.Buys)+len(d.Sells)+len(d.Pawns) != 3) {
			return "", nil, fmt.Errorf("%s read back from %s is not the document loaded: %+v", id, db, d)
		}
	}
	return db, ids, nil
}

// ensureIndexes gives a fresh database the indexes idx, one index per
// command as the worker does (FerretDB v1 mis-handles a createIndexes
// listing several).
func (b *bench) ensureIndexes(ctx context.Context, db string, idx map[string][]bson.D) error {
	for coll, keys := range idx {
		for _, k := range keys {
			if _, err := b.mongo.Database(db).Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: k}); err != nil {
				return fmt.Errorf("create index on %s.%s: %w", db, coll, err)
			}
		}
	}
	return nil
}

// checkCount verifies that db's items collection holds n documents.
func (b *bench) checkCount(ctx context.Context, db string, n int) error {
	got, err := b.mongo.Database(db).Collection(itemsColl).CountDocuments(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("count %s.%s: %w", db, itemsColl, err)
	}
	if got != int64(n) {
		return fmt.Errorf("%s.%s holds %d documents, want %d", db, itemsColl, got, n)
	}
	return nil
}

// checkDocs verifies that db's items collection holds exactly want: the
// same ids, each document equal to the harness's (item, envelope, every
// action under its event id) and nothing else.
func (b *bench) checkDocs(ctx context.Context, db string, want []*itemDoc) error {
	byID := make(map[string]*itemDoc, len(want))
	for _, d := range want {
		byID[d.ID] = d
	}
	cur, err := b.mongo.Database(db).Collection(itemsColl).Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("read %s.%s: %w", db, itemsColl, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	seen := 0
	for cur.Next(ctx) {
		got, err := decodeItemDoc(cur.Current)
		if err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
		w, ok := byID[got.ID]
		if !ok {
			return fmt.Errorf("%s.%s holds %q, which the data set does not have", db, itemsColl, got.ID)
		}
		if !w.equal(got) {
			return fmt.Errorf("%s.%s: document %q differs from the harness's model: got %v, want %v", db, itemsColl, got.ID, got, w)
		}
		seen++
	}
	if err := cur.Err(); err != nil {
		return err
	}
	if seen != len(want) {
		return fmt.Errorf("%s.%s holds %d of the %d items", db, itemsColl, seen, len(want))
	}
	return nil
}

// completeTimeout bounds complete.
const completeTimeout = 20 * time.Second

// complete says whether db's items hold every event of want (a cheap
// check first: the count).
// It gives up after completeTimeout: a database whose connections a hung
// command holds answers nothing.
func (b *bench) complete(ctx context.Context, db string, want []*itemDoc) bool {
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	return b.checkCount(ctx, db, len(want)) == nil && b.checkDocs(ctx, db, want) == nil
}
