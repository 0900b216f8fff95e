package embedded

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"modernc.org/sqlite"
)

// sqlitePragmas records, per SQLite URL opened by any connection in this
// test binary (FerretDB's and idIndexer's), the pragmas the connection ended
// up with. Registered once: the driver's hook list is not safe to change
// while connections open.
var sqlitePragmas = struct {
	sync.Mutex
	byDSN map[string]string
}{byDSN: map[string]string{}}

func init() {
	sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
		var got []string
		for _, p := range []string{"synchronous", "busy_timeout", "journal_mode"} {
			v, err := pragmaValue(conn, p)
			if err != nil {
				return nil // a connection to a file going away; not ours to fail
			}
			got = append(got, p+"="+v)
		}
		sqlitePragmas.Lock()
		sqlitePragmas.byDSN[dsn] = strings.Join(got, " ")
		sqlitePragmas.Unlock()
		return nil
	})
}

func pragmaValue(conn sqlite.ExecQuerierContext, name string) (string, error) {
	rows, err := conn.QueryContext(context.Background(), "PRAGMA "+name, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		return "", err
	}
	return fmt.Sprint(dest[0]), nil
}

// warnRecorder is a slog handler that keeps the messages of WARN and above.
type warnRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newWarnRecorder() warnRecorder { return warnRecorder{mu: new(sync.Mutex), msgs: new([]string)} }

func (h warnRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h warnRecorder) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	h.mu.Lock()
	*h.msgs = append(*h.msgs, s)
	h.mu.Unlock()
	return nil
}
func (h warnRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnRecorder) WithGroup(string) slog.Handler      { return h }

// indexerWarnings returns the recorded warnings of idIndexer.
func (h warnRecorder) indexerWarnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range *h.msgs {
		if strings.Contains(m, "_id lookup index") {
			out = append(out, m)
		}
	}
	return out
}

// startIndexedMongo starts a server over dir whose logs go to rec.
func startIndexedMongo(t *testing.T, ctx context.Context, dir string, rec warnRecorder) *Mongo {
	t.Helper()
	m, err := StartMongo(ctx, MongoConfig{Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(rec)})
	if err != nil {
		t.Fatalf("StartMongo: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// openSQLite opens a database file of m the way idIndexer does (mode=rw,
// no idle connection kept, so a dropDatabase can delete the file cleanly).
func openSQLite(t *testing.T, m *Mongo, dbName string) *sql.DB {
	t.Helper()
	q, err := idIndexerQuery(sqliteURL(m.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", (&idIndexer{query: q}).dsn(filepath.Join(m.DataDir(), dbName+".sqlite")))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// tableOf returns the SQLite table FerretDB keeps collection coll in.
func tableOf(t *testing.T, ctx context.Context, db *sql.DB, coll string) string {
	t.Helper()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM "_ferretdb_collections" WHERE name = ?`, coll).Scan(&table); err != nil {
		t.Fatalf("table of %s: %v", coll, err)
	}
	return table
}

// hasIDIndex reports whether table has idIndexer's index.
func hasIDIndex(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?`,
		table, table+idIndexSuffix).Scan(&n)
	return n == 1, err
}

// waitIDIndex waits until table has the index, failing after 5 s (25 ticks).
func waitIDIndex(t *testing.T, ctx context.Context, db *sql.DB, table string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := hasIDIndex(ctx, db, table)
		if err != nil {
			t.Fatalf("index of %s: %v", table, err)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no %s%s after %v", table, idIndexSuffix, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idLookupPlan returns SQLite's plan for FerretDB's _id equality query.
func idLookupPlan(t *testing.T, ctx context.Context, db *sql.DB, table string) string {
	t.Helper()
	var id, parent, unused int
	var plan string
	q := fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %s WHERE _ferretdb_sjson->'$._id' = ?`, quoteIdent(table))
	if err := db.QueryRowContext(ctx, q, `"x"`).Scan(&id, &parent, &unused, &plan); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return plan
}

func indexNames(t *testing.T, ctx context.Context, coll *mongo.Collection) []string {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatalf("listIndexes %s: %v", coll.Name(), err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// TestMongoIDIndexFollowsCollections: a collection created over the wire gets
// the index within a bounded wait and SQLite plans the _id lookup with it;
// FerretDB does not see it (listIndexes), and createIndexes, dropIndexes,
// renameCollection, collStats, drop and dropDatabase keep working, a
// re-created collection or database gets the index again, and a dropped
// database's file is not re-created.
func TestMongoIDIndexFollowsCollections(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	rec := newWarnRecorder()
	m := startIndexedMongo(t, ctx, t.TempDir(), rec)
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()
	mdb := client.Database("shop")
	coll := mdb.Collection("items")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "sku", Value: "A"}}); err != nil {
		t.Fatal(err)
	}

	db := openSQLite(t, m, "shop")
	table := tableOf(t, ctx, db, "items")
	t.Logf("index on new collection after %v", waitIDIndex(t, ctx, db, table))
	if plan := idLookupPlan(t, ctx, db, table); !strings.Contains(plan, "USING INDEX "+table+idIndexSuffix) {
		t.Fatalf("plan = %q, want USING INDEX %s%s", plan, table, idIndexSuffix)
	}

	// FerretDB's own index machinery is unaffected and does not list ours.
	if got := indexNames(t, ctx, coll); !slices.Equal(got, []string{"_id_"}) {
		t.Fatalf("listIndexes = %v, want [_id_]", got)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatalf("createIndexes: %v", err)
	}
	if got := indexNames(t, ctx, coll); !slices.Equal(got, []string{"_id_", "sku_1"}) {
		t.Fatalf("listIndexes = %v, want [_id_ sku_1]", got)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "sku", Value: "Z"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id insert: err = %v, want duplicate key", err)
	}
	if err := coll.Indexes().DropOne(ctx, "sku_1"); err != nil {
		t.Fatalf("dropIndexes: %v", err)
	}
	if err := mdb.RunCommand(ctx, bson.D{{Key: "collStats", Value: "items"}}).Err(); err != nil {
		t.Fatalf("collStats: %v", err)
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{
		{Key: "renameCollection", Value: "shop.items"}, {Key: "to", Value: "shop.lots"},
	}).Err(); err != nil {
		t.Fatalf("renameCollection: %v", err)
	}
	lots := mdb.Collection("lots")
	var doc bson.M
	if err := lots.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&doc); err != nil || doc["sku"] != "A" {
		t.Fatalf("FindOne after rename = %v, %v", doc, err)
	}
	if ok, err := hasIDIndex(ctx, db, table); !ok || err != nil {
		t.Fatalf("index after rename: %v, %v", ok, err)
	}

	// drop, then the same name again: FerretDB derives the table name from
	// the collection name, so the new table has the old name and no index.
	if err := lots.Drop(ctx); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if _, err := lots.InsertOne(ctx, bson.D{{Key: "_id", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	waitIDIndex(t, ctx, db, tableOf(t, ctx, db, "lots"))
	if n, err := lots.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count after re-create = %d, %v", n, err)
	}

	// dropDatabase deletes the file; it stays deleted.
	_ = db.Close()
	if err := mdb.Drop(ctx); err != nil {
		t.Fatalf("dropDatabase: %v", err)
	}
	file := filepath.Join(m.DataDir(), "shop.sqlite")
	time.Sleep(3 * idIndexInterval)
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after dropDatabase stat %s: %v, want not exist", file, err)
	}
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil || slices.Contains(names, "shop") {
		t.Fatalf("databases after drop = %v, %v", names, err)
	}
	if _, err := mdb.Collection("items").InsertOne(ctx, bson.D{{Key: "_id", Value: "c"}}); err != nil {
		t.Fatal(err)
	}
	db = openSQLite(t, m, "shop")
	waitIDIndex(t, ctx, db, tableOf(t, ctx, db, "items"))
	if err := mdb.Collection("items").FindOne(ctx, bson.D{{Key: "_id", Value: "c"}}).Err(); err != nil {
		t.Fatalf("FindOne in re-created database: %v", err)
	}
	if w := rec.indexerWarnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestMongoIDIndexNewDatabaseOnFirstPass: a database FerretDB has just
// created and switched to WAL is indexed by the first pass that sees it,
// not a settle period later (ingest into a new database writes most of its
// upserts in its first second), while a file not yet in WAL is left alone.
// The server's own indexer is stopped; one pass of a fresh one runs here.
func TestMongoIDIndexNewDatabaseOnFirstPass(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	m := startIndexedMongo(t, ctx, t.TempDir(), newWarnRecorder())
	m.ids.Close()
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()
	if _, err := client.Database("fresh").Collection("items").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	// A file being created: no WAL yet, so no connection of ours may open it.
	creating := filepath.Join(m.DataDir(), "creating.sqlite")
	if err := os.WriteFile(creating, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := idIndexerQuery(sqliteURL(m.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	x := &idIndexer{dir: m.DataDir(), query: q, log: slog.New(slog.DiscardHandler),
		dbs: map[string]*sql.DB{}, seen: map[string]seenFile{}, failures: map[string]int{}, warned: map[string]bool{}}
	t.Cleanup(func() {
		for _, db := range x.dbs {
			_ = db.Close()
		}
	})
	x.tick(ctx)
	if _, opened := x.dbs[creating]; opened {
		t.Errorf("the pass opened %s, a file not yet switched to WAL", filepath.Base(creating))
	}
	db := openSQLite(t, m, "fresh")
	if ok, err := hasIDIndex(ctx, db, tableOf(t, ctx, db, "items")); err != nil || !ok {
		t.Fatalf("after the first pass over a new database: index %v (err %v), want it there", ok, err)
	}
}

// TestMongoIDIndexLookupRatio: a FindOne by _id near the end of 20,000
// documents costs about what one near the start does once the index is
// there; without it (same run, maintainer stopped) it scans.
func TestMongoIDIndexLookupRatio(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	rec := newWarnRecorder()
	m := startIndexedMongo(t, ctx, t.TempDir(), rec)
	m.ids.Close() // measure FerretDB alone first
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()
	coll := client.Database("ratio").Collection("docs")

	const n, batch, probes = 20000, 500, 30
	id := func(i int) string { return fmt.Sprintf("doc-%06d", i) }
	start := time.Now()
	for i := 0; i < n; i += batch {
		docs := make([]any, 0, batch)
		for j := i; j < i+batch; j++ {
			docs = append(docs, bson.D{{Key: "_id", Value: id(j)}, {Key: "name", Value: "lamp"}, {Key: "price", Value: j}})
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("inserted %d documents in %v", n, time.Since(start))

	// lookups returns the median time of count lookups: a median, not a
	// mean, so that a pause of this shared machine does not decide.
	lookups := func(from, count int) time.Duration {
		took := make([]time.Duration, 0, count)
		for i := from; i < from+count; i++ {
			start := time.Now()
			var doc bson.M
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id(i)}}).Decode(&doc); err != nil {
				t.Fatalf("FindOne %s: %v", id(i), err)
			}
			if fmt.Sprint(doc["price"]) != fmt.Sprint(i) {
				t.Fatalf("FindOne %s = %v", id(i), doc)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		return took[len(took)/2]
	}
	measure := func(count int) (early, late time.Duration) {
		lookups(100, count) // warm up
		return lookups(100, count), lookups(n-1000, count)
	}

	// Only logged, so a few lookups do: each scans 19,000 rows (about 1 s
	// under -race).
	early0, late0 := measure(5)
	t.Logf("without index: FindOne near start %v, near end %v, end/start %.1f", early0, late0, float64(late0)/float64(early0))

	start = time.Now()
	x, err := startIDIndexer(m.DataDir(), sqliteURL(m.DataDir()), slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	t.Logf("index built on %d documents in %v", n, time.Since(start))
	db := openSQLite(t, m, "ratio")
	table := tableOf(t, ctx, db, "docs")
	if ok, err := hasIDIndex(ctx, db, table); !ok || err != nil {
		t.Fatalf("index after the first pass: %v, %v", ok, err)
	}

	early, late := measure(probes)
	ratio := float64(late) / float64(early)
	t.Logf("with index: FindOne near start %v, near end %v, end/start %.1f; near end %.0fx faster than without",
		early, late, ratio, float64(late0)/float64(late))
	// Without the index the ratio is about 60 to 75 (a scan to the end);
	// with it about 1.
	if ratio >= 10 {
		t.Errorf("FindOne near the end / near the start = %.1f (medians), want < 10 (the lookup scans)", ratio)
	}
	if w := rec.indexerWarnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestMongoIDIndexSurvivesRestart: the index is on disk after Close, a
// restart over the same directory keeps data and index (CREATE INDEX IF NOT
// EXISTS finds it), and collections created after the restart get one.
func TestMongoIDIndexSurvivesRestart(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	dir := t.TempDir()
	rec := newWarnRecorder()

	m := startIndexedMongo(t, ctx, dir, rec)
	client, disconnect := connectMongo(t, ctx, m)
	if _, err := client.Database("keep").Collection("items").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, m, "keep")
	table := tableOf(t, ctx, db, "items")
	waitIDIndex(t, ctx, db, table)
	_ = db.Close()
	disconnect()
	m.Close()

	m = startIndexedMongo(t, ctx, dir, rec)
	db = openSQLite(t, m, "keep")
	if ok, err := hasIDIndex(ctx, db, table); !ok || err != nil {
		t.Fatalf("index after restart: %v, %v", ok, err)
	}
	client, disconnect = connectMongo(t, ctx, m)
	defer disconnect()
	items := client.Database("keep").Collection("items")
	if err := items.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Err(); err != nil {
		t.Fatalf("FindOne after restart: %v", err)
	}
	if got := indexNames(t, ctx, items); !slices.Equal(got, []string{"_id_"}) {
		t.Fatalf("listIndexes after restart = %v, want [_id_]", got)
	}
	if _, err := client.Database("keep").Collection("later").InsertOne(ctx, bson.D{{Key: "_id", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	waitIDIndex(t, ctx, db, tableOf(t, ctx, db, "later"))
	if w := rec.indexerWarnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestMongoSQLiteSynchronousNormal: FerretDB's connections run with
// synchronous=NORMAL (1) and keep FerretDB's defaults busy_timeout=10000 and
// WAL; idIndexer's connections have the same.
func TestMongoSQLiteSynchronousNormal(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	m := startIndexedMongo(t, ctx, t.TempDir(), newWarnRecorder())
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()
	if _, err := client.Database("prag").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, m, "prag")
	waitIDIndex(t, ctx, db, tableOf(t, ctx, db, "c"))

	want := "synchronous=1 busy_timeout=10000 journal_mode=wal"
	var ferret, ours int
	sqlitePragmas.Lock()
	for dsn, got := range sqlitePragmas.byDSN {
		if !strings.Contains(dsn, filepath.ToSlash(m.DataDir())+"/prag.sqlite") {
			continue
		}
		if strings.Contains(dsn, "mode=rw") {
			ours++
		} else {
			ferret++
		}
		if got != want {
			t.Errorf("connection %s: %s, want %s", dsn, got, want)
		}
	}
	sqlitePragmas.Unlock()
	if ferret == 0 || ours == 0 {
		t.Fatalf("connections seen: FerretDB %d, ours %d; want both", ferret, ours)
	}
}

// TestMongoIDIndexUnderChurn: clients creating, writing and dropping
// collections and databases while the maintainer indexes them see no error,
// and the maintainer logs no warning.
func TestMongoIDIndexUnderChurn(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	rec := newWarnRecorder()
	m := startIndexedMongo(t, ctx, t.TempDir(), rec)
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()

	const workers, rounds = 4, 15
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				// Worker 0 drops and re-creates its whole database; the
				// others drop and re-create collections of a shared one.
				mdb := client.Database("churn")
				if w == 0 {
					mdb = client.Database("churn0")
				}
				for r := range rounds {
					coll := mdb.Collection(fmt.Sprintf("c%d", w))
					var models []mongo.WriteModel
					for i := range 50 {
						models = append(models, mongo.NewUpdateOneModel().
							SetFilter(bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", r, i)}}).
							SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "r", Value: r}}}}).SetUpsert(true))
					}
					if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
						return fmt.Errorf("worker %d round %d bulk: %w", w, r, err)
					}
					time.Sleep(time.Duration(r%4) * 70 * time.Millisecond) // sometimes across a tick
					if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-7", r)}}).Err(); err != nil {
						return fmt.Errorf("worker %d round %d find: %w", w, r, err)
					}
					drop := func() error { return coll.Drop(ctx) }
					if w == 0 {
						drop = func() error { return mdb.Drop(ctx) }
					}
					if err := drop(); err != nil {
						return fmt.Errorf("worker %d round %d drop: %w", w, r, err)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if w := rec.indexerWarnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestMongoIDIndexWarnsOnceOnPersistentFailure: a file the maintainer cannot
// read (not a database) is logged at WARN once, after several passes, and
// the server keeps serving.
func TestMongoIDIndexWarnsOnceOnPersistentFailure(t *testing.T) {
	ctx := testContext(t, mongoDeadline)
	rec := newWarnRecorder()
	m := startIndexedMongo(t, ctx, t.TempDir(), rec)
	bad := filepath.Join(m.DataDir(), "bad.sqlite")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(idIndexSettle + (idIndexWarnAfter+5)*idIndexInterval)
	if w := rec.indexerWarnings(); len(w) != 1 || !strings.Contains(w[0], "bad.sqlite") {
		t.Fatalf("warnings = %q, want one about bad.sqlite", w)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	client, disconnect := connectMongo(t, ctx, m)
	defer disconnect()
	if _, err := client.Database("fine").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, m, "fine")
	waitIDIndex(t, ctx, db, tableOf(t, ctx, db, "c"))
}
