package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", the one FerretDB uses
)

// idIndexSuffix ends the name of the index idIndexer creates on a collection
// table: "<table>_id_pushdown". FerretDB names its own indexes
// "<table>_<mongo index name>", so only a MongoDB index called "id_pushdown"
// could collide.
const idIndexSuffix = "_id_pushdown"

// idIndexInterval is how often idIndexer looks for new collection tables.
const idIndexInterval = 200 * time.Millisecond

// ferretMetadataTable lists a database's collections and their tables
// (columns name, table_name, settings) in FerretDB v1's SQLite backend.
const ferretMetadataTable = "_ferretdb_collections"

// idIndexer keeps an index on the expression FerretDB v1 queries an _id
// equality with on every collection table of every database in a data
// directory.
//
// Why: FerretDB v1.24 (SQLite backend) pushes a filter {_id: x} down as
// `WHERE _ferretdb_sjson->'$._id' = ?`, but the unique _id index it creates
// is on `_ferretdb_sjson->"_id"`. SQLite matches index expressions by their
// text, so it never uses that index: every FindOne, update or upsert by _id
// scans the table in insertion order, decoding each row's JSON (about 1.5 to
// 3 µs a row; an update by _id scans twice). With an index on the query's
// own expression the plan becomes `SEARCH ... USING INDEX`. Measured in one
// run (TestMongoIDIndexLookupRatio and a probe): FindOne near the end of
// 20,000 documents 28 to 30 ms without, 0.15 to 0.25 ms with, wherever the
// document is (the index took 40 ms to build); 2,000 upserts by _id in bulks
// of 16 into a new collection 297/s without, 2,691/s with (7,716/s with
// synchronous(normal) too, see sqliteURL), and updating those 2,000 again
// 106/s without, 1,570/s with (3,276/s). A steady-state pass costs about
// 0.25 ms per database file.
//
// Databases and collections are created over the wire at any time, and
// FerretDB offers no hook, so idIndexer polls: at start and every
// idIndexInterval it lists the *.sqlite files and, per file, asks in one
// query which collection tables lack the index, then creates those with
// CREATE INDEX IF NOT EXISTS (idempotent; DROP TABLE drops the index with
// the table, a re-created table is found again). FerretDB never sees the
// index in its metadata, so listIndexes, createIndexes, dropIndexes, drop,
// dropDatabase and renameCollection behave as before; collStats does not
// count it.
//
// It keeps no connection open between ticks (each *sql.DB has no idle
// connections): FerretDB's dropDatabase closes its connections and deletes
// the file, and a connection of ours still open then would keep that
// database's -wal and -shm files alive next to a database re-created under
// the same name. Files are opened with mode=rw so a file deleted meanwhile is
// never re-created. What is left is a window of under a millisecond: a
// dropDatabase and a re-creation of the same database both within one
// pass's query on that file. Failures are logged at DEBUG (at WARN, once
// per error text, when a file has failed idIndexWarnAfter passes in a row)
// and retried on the next tick; none is fatal.
type idIndexer struct {
	dir   string
	query string // URL query FerretDB's connections use, plus mode=rw
	log   *slog.Logger

	stop context.CancelFunc
	done chan struct{}

	// Used by one pass at a time only.
	dbs      map[string]*sql.DB  // by file path
	seen     map[string]seenFile // when a pass first saw each file, and which file it was
	failures map[string]int      // passes failed in a row, by file path
	warned   map[string]bool     // error texts already logged at WARN
}

// startIDIndexer runs one pass over dir, then starts the polling loop.
// sqliteURL is the URL given to FerretDB; its query parameters (the
// pragmas) are reused, with FerretDB's defaults added the way FerretDB adds
// them, so our connections wait on locks (busy_timeout) like FerretDB's.
func startIDIndexer(dir, sqliteURL string, log *slog.Logger) (*idIndexer, error) {
	query, err := idIndexerQuery(sqliteURL)
	if err != nil {
		return nil, fmt.Errorf("id index: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	x := &idIndexer{
		dir:      dir,
		query:    query,
		log:      log,
		stop:     stop,
		done:     make(chan struct{}),
		dbs:      map[string]*sql.DB{},
		seen:     map[string]seenFile{},
		failures: map[string]int{},
		warned:   map[string]bool{},
	}
	// FerretDB opened the files that exist already: they need no settling.
	if files, err := filepath.Glob(filepath.Join(dir, "*.sqlite")); err == nil {
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				x.seen[f] = seenFile{info: fi}
			}
		}
	}
	x.tick(ctx)
	go x.loop(ctx)
	return x, nil
}

// idIndexerQuery returns the URL query of our connections: sqliteURL's, with
// FerretDB's defaults added, and mode=rw.
func idIndexerQuery(sqliteURL string) (string, error) {
	u, err := url.Parse(sqliteURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	addFerretPragmaDefaults(q)
	q.Set("mode", "rw")
	return q.Encode(), nil
}

// Close stops the loop, waits for a pass under way, and closes the databases.
func (x *idIndexer) Close() {
	x.stop()
	<-x.done
	for file, db := range x.dbs {
		_ = db.Close()
		delete(x.dbs, file)
	}
}

func (x *idIndexer) loop(ctx context.Context) {
	defer close(x.done)
	t := time.NewTicker(idIndexInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			x.tick(ctx)
		}
	}
}

// idIndexSettle is how long a database file FerretDB created is left alone
// before it is opened when its switch to WAL cannot be seen (walDone):
// FerretDB sets a new file up within milliseconds.
const idIndexSettle = time.Second

// walDone reports whether FerretDB has switched the database file to WAL:
// the switch creates the file's write-ahead log, "<file>-wal", which stays
// while FerretDB has the database open. It looks only at the directory:
// opening the database file itself, even just to read its header, and
// closing it would drop every POSIX lock this process holds on it,
// FerretDB's too.
func walDone(file string) bool {
	_, err := os.Stat(file + "-wal")
	return err == nil
}

// seenFile is a database file as a pass first saw it.
type seenFile struct {
	at   time.Time
	info os.FileInfo // which file: a database dropped and created again is another one
}

// tick indexes the new tables of every database file and forgets the files
// that are gone.
func (x *idIndexer) tick(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		x.fail("", "list database files", err)
		return
	}
	delete(x.failures, "")
	present := make(map[string]bool, len(files))
	now := time.Now()
	for _, file := range files {
		if ctx.Err() != nil {
			return
		}
		fi, err := os.Stat(file)
		if err != nil {
			continue // dropped since the listing
		}
		present[file] = true
		// A file FerretDB has just created is left alone while it sets it up:
		// its switch to WAL needs the file to itself, and fails at once
		// (SQLITE_BUSY, no busy wait) if our connection is there. That
		// includes a database dropped and created again between two passes:
		// same name, another file (TestMongoIDIndexUnderChurn failed in CI
		// when it was taken for the old one).
		// Once the switch is done (walDone) the file is indexed at once:
		// ingest into a new database writes most of its upserts in its
		// first second, and without the index each scans the table.
		seen, ok := x.seen[file]
		if !ok || !os.SameFile(seen.info, fi) {
			seen = seenFile{at: now, info: fi}
			x.seen[file] = seen
			x.forget(file)
		}
		if now.Sub(seen.at) < idIndexSettle && !walDone(file) {
			continue
		}
		x.indexFile(ctx, file)
	}
	for file := range x.seen {
		if !present[file] {
			delete(x.seen, file)
		}
	}
	for file := range x.dbs {
		if !present[file] {
			x.forget(file)
		}
	}
}

// forget closes our handle on file, if any, and its failure count.
func (x *idIndexer) forget(file string) {
	if db, ok := x.dbs[file]; ok {
		_ = db.Close()
		delete(x.dbs, file)
	}
	delete(x.failures, file)
}

// missingIDIndexQuery lists the collection tables without the index; it
// reads two small tables, which is all a steady-state tick costs per file.
var missingIDIndexQuery = fmt.Sprintf(`SELECT c.table_name FROM %s AS c
WHERE NOT EXISTS (SELECT 1 FROM sqlite_master AS s
  WHERE s.type = 'index' AND s.tbl_name = c.table_name AND s.name = c.table_name || '%s')`,
	quoteIdent(ferretMetadataTable), idIndexSuffix)

// indexFile creates the missing indexes of one database file.
func (x *idIndexer) indexFile(ctx context.Context, file string) {
	db, ok := x.dbs[file]
	if !ok {
		var err error
		// Opening connects nothing yet; errors come with the first query.
		if db, err = sql.Open("sqlite", x.dsn(file)); err != nil {
			x.fail(file, "open", err)
			return
		}
		db.SetMaxIdleConns(0)
		db.SetMaxOpenConns(1)
		x.dbs[file] = db
	}
	tables, err := missingIDIndexTables(ctx, db)
	if err != nil && strings.Contains(err.Error(), "no such table: "+ferretMetadataTable) {
		// FerretDB has not set this file up yet: a database created again
		// under the same name, on a reused inode. Leave it alone again.
		x.log.Debug("embedded mongo: _id lookup index: database file not set up yet", "file", filepath.Base(file))
		x.seen[file] = seenFile{at: time.Now(), info: x.seen[file].info}
		x.forget(file)
		return
	}
	if err != nil {
		x.fail(file, "list tables", err)
		return
	}
	var failedStep string // the first failure of this pass, logged once
	var failed error
	for _, table := range tables {
		start := time.Now()
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`,
			quoteIdent(table+idIndexSuffix), quoteIdent(table))
		if _, err := db.ExecContext(ctx, q); err != nil {
			if failed == nil {
				failedStep, failed = "create index on "+table, err
			}
			continue
		}
		x.log.Debug("embedded mongo: _id lookup index created",
			"file", filepath.Base(file), "table", table, "took", time.Since(start))
	}
	if failed != nil {
		x.fail(file, failedStep, failed)
		return
	}
	delete(x.failures, file)
}

func missingIDIndexTables(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, missingIDIndexQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}

// dsn is the URL our connections to file use: FerretDB's, with mode=rw.
func (x *idIndexer) dsn(file string) string {
	return (&url.URL{Scheme: "file", Opaque: filepath.ToSlash(file), RawQuery: x.query}).String()
}

// idIndexWarnAfter is how many passes in a row must fail on a file before a
// failure is logged at WARN: a dropDatabase or drop racing with a pass makes
// one fail now and then (no such table, SQLITE_BUSY while the dropped
// database's last connection cleans up, a file gone), and the next sorts it
// out.
const idIndexWarnAfter = 5

// fail counts a failed pass over file and logs its failure at DEBUG, or at
// WARN once per error text when the file has failed idIndexWarnAfter passes
// in a row and still exists.
func (x *idIndexer) fail(file, step string, err error) {
	x.failures[file]++
	msg := step + ": " + err.Error()
	level := slog.LevelDebug
	if x.failures[file] >= idIndexWarnAfter && !x.warned[msg] &&
		!errors.Is(err, context.Canceled) && (file == "" || fileExists(file)) {
		level = slog.LevelWarn
		x.warned[msg] = true
	}
	x.log.Log(context.Background(), level, "embedded mongo: _id lookup index",
		"file", filepath.Base(file), "step", step, "err", err, "failed_passes", x.failures[file])
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// addFerretPragmaDefaults adds the pragmas FerretDB v1.24 adds to a SQLite
// URL that sets none of them (internal/backends/sqlite/metadata/pool/uri.go,
// setDefaultValues), in its order: busy_timeout before journal_mode(wal).
func addFerretPragmaDefaults(q url.Values) {
	has := func(name string) bool {
		for _, v := range q["_pragma"] {
			if strings.HasPrefix(v, name) {
				return true
			}
		}
		return false
	}
	busy, journal, vacuum := has("busy_timeout"), has("journal_mode"), has("auto_vacuum")
	if !busy {
		q.Add("_pragma", "busy_timeout(10000)")
	}
	if !journal {
		q.Add("_pragma", "journal_mode(wal)")
	}
	if !vacuum {
		q.Add("_pragma", "auto_vacuum(none)")
	}
}

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
