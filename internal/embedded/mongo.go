package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// MongoConfig configures StartMongo. The zero value is usable: a random
// loopback port and a temporary data directory removed on Close.
type MongoConfig struct {
	// Addr is the TCP listen address, like "127.0.0.1:27017", or
	// "127.0.0.1:0" for a random port. Empty means "127.0.0.1:0".
	Addr string

	// DataDir is the directory that holds the SQLite files (one per
	// database). It is created if missing and kept on Close, so a later
	// StartMongo on the same DataDir sees the same data. Empty means a
	// fresh temporary directory that Close removes.
	DataDir string

	// Logger receives FerretDB's errors and the _id index maintainer's
	// warnings and debug records (see idIndexer); nil means stderr for
	// FerretDB and slog.Default() for the maintainer. Nothing of FerretDB's
	// below error level is passed on: FerretDB logs every connection at info level, and at warn
	// level it dumps every command that fails, including the endSessions
	// that the driver sends on Disconnect (FerretDB v1 does not implement
	// it; the driver ignores the failure) and the errors a test provokes on
	// purpose, such as duplicate keys. Either would drown test output.
	Logger *slog.Logger
}

// Mongo is a running, in-process MongoDB stand-in: FerretDB v1 translating
// the MongoDB wire protocol to SQLite. It exists so tests and the dev stack
// can use the official MongoDB driver against a real server without a
// mongod binary or a container. It is a standalone server (no replica set),
// so it supports neither transactions nor change streams.
//
// FerretDB v1.24 with SQLite has limits that code under test must respect:
//
//   - An update command (one UpdateMany/ReplaceOne/BulkWrite call, which the
//     driver sends as one command) with more than 100 statements that match
//     existing documents never returns: each matched statement keeps a
//     SQLite connection until the command ends and the pool has 100, so the
//     101st waits for ever. Split such bulks into chunks of at most 100.
//   - FerretDB's own _id index is never used by a lookup by _id (the index
//     expression and the query expression differ), so Mongo adds an index on
//     the query's expression to every collection table itself (idIndexer), a
//     fraction of a second after the collection appears. Only an _id equality
//     is pushed down to SQLite: any other filter decodes every document.
//   - The driver's endSessions on Disconnect fails (not implemented); the
//     driver ignores that.
type Mongo struct {
	uri     string
	dataDir string
	tempDir bool

	stop context.CancelFunc
	done chan struct{}
	ids  *idIndexer

	closeOnce sync.Once
}

// ferretNewMu serializes ferretdb.New: it writes a package-level variable
// (version.Get().Package) on every call, which the race detector reports when
// parallel tests start several servers at once.
var ferretNewMu sync.Mutex

// StartMongo starts FerretDB with its SQLite backend on cfg.DataDir and
// returns once it listens on cfg.Addr. The server lives until Close; ctx only
// bounds the start-up.
func StartMongo(ctx context.Context, cfg MongoConfig) (m *Mongo, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if cfg.Logger != nil {
		logger = slog.New(errorsOnly{cfg.Logger.Handler()})
	}

	dir, tempDir := cfg.DataDir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "embedded-mongo-"); err != nil {
			return nil, fmt.Errorf("embedded mongo: %w", err)
		}
		tempDir = true
	} else if err = os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}
	defer func() {
		if err != nil && tempDir {
			_ = os.RemoveAll(dir)
		}
	}()
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}
	// FerretDB decodes the SQLite URI and pastes the raw path back into the
	// URIs it opens, so these characters end the path or get decoded a
	// second time: "a#b" or "a?b" silently puts the files somewhere else.
	if strings.ContainsAny(dir, "%?#") {
		return nil, fmt.Errorf("embedded mongo: data directory %q contains one of %%?#, which FerretDB mishandles", dir)
	}

	ferretNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: cfg.Addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir),
	})
	ferretNewMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}

	// Run must not use ctx: the server outlives the start-up call.
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(runCtx) // always nil in v1
	}()

	// New has already bound the listener, so MongoDBURI does not block.
	uri, err := reachableURI(f.MongoDBURI())
	if err != nil {
		stop()
		<-done
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}

	idLog := slog.Default()
	if cfg.Logger != nil {
		idLog = cfg.Logger
	}
	ids, err := startIDIndexer(dir, sqliteURL(dir), idLog)
	if err != nil {
		stop()
		<-done
		return nil, fmt.Errorf("embedded mongo: %w", err)
	}

	return &Mongo{uri: uri, dataDir: dir, tempDir: tempDir, stop: stop, done: done, ids: ids}, nil
}

// URI returns the mongodb:// connection string, e.g.
// "mongodb://127.0.0.1:40123/", for the official driver.
func (m *Mongo) URI() string { return m.uri }

// DataDir returns the absolute directory holding the SQLite files.
func (m *Mongo) DataDir() string { return m.dataDir }

// Close stops the server, waits until every connection is closed and the
// SQLite databases are closed (so the data is on disk), and removes the data
// directory if StartMongo created a temporary one. Disconnect clients first:
// FerretDB gives connections still open a 3 second grace period before it
// drops them, which Close waits out. It is safe to call more than once.
func (m *Mongo) Close() {
	m.closeOnce.Do(func() {
		m.ids.Close()
		m.stop()
		<-m.done
		if m.tempDir {
			_ = os.RemoveAll(m.dataDir)
		}
	})
}

// sqliteURL returns the FerretDB SQLite backend URI for the absolute
// directory dir. FerretDB wants a "file:" URI naming an existing directory
// and rejects it unless the path ends with a slash; it passes the query on to
// every database file's connections and appends its defaults
// (busy_timeout(10000), journal_mode(wal), auto_vacuum(none)) after ours.
//
// It sets synchronous(normal): in WAL mode a commit then no longer waits for
// an fsync (the WAL is synced at checkpoints), which in one run took updates
// by _id from 1,570/s to 3,276/s and upserts of new _ids from 2,691/s to
// 7,716/s (see idIndexer). A killed process loses nothing (the WAL is written
// before the commit returns); a machine or OS crash may lose the last
// commits, never corrupting the database. That is the durability the dev
// stack's embedded broker has by default too (KafkaConfig.SyncWrites, off
// unless the dev stack's KafkaSyncWrites asks for it), and this server exists
// for tests and the dev stack.
func sqliteURL(dir string) string {
	q := url.Values{"_pragma": {"synchronous(normal)"}}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/", RawQuery: q.Encode()}).String()
}

// reachableURI replaces an unspecified listen host ("0.0.0.0", "::") in a
// mongodb:// URI with loopback, which clients can always dial.
func reachableURI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", port)
	}
	return u.String(), nil
}

// errorsOnly passes on the records of error level and above only.
type errorsOnly struct{ slog.Handler }

func (h errorsOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError && h.Handler.Enabled(ctx, l)
}

func (h errorsOnly) WithAttrs(as []slog.Attr) slog.Handler {
	return errorsOnly{h.Handler.WithAttrs(as)}
}

func (h errorsOnly) WithGroup(name string) slog.Handler { return errorsOnly{h.Handler.WithGroup(name)} }
