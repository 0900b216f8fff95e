package mongo_test

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
)

// startTLSMongo runs a FerretDB that listens only with TLS, serving the
// certificate p, and returns its host:port.
func startTLSMongo(t testing.TB, p certtest.Pair) string {
	t.Helper()
	dir := t.TempDir()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TLS: "127.0.0.1:0", TLSCertFile: p.CertFile, TLSKeyFile: p.KeyFile},
		Logger:    slog.New(slog.DiscardHandler),
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	t.Cleanup(func() { stop(); <-done })
	u, err := url.Parse(f.MongoDBURI()) // waits for the listener
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestConnectOverTLS connects the worker's store to a TLS-only MongoDB
// stand-in through the URI's tls options: with the server's CA it works,
// with another CA or without TLS it does not.
func TestConnectOverTLS(t *testing.T) {
	srv, other := certtest.SelfSigned(t), certtest.SelfSigned(t)
	host := startTLSMongo(t, srv)
	connect := func(uri string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := mongo.Connect(ctx, uri, "tlstest")
		if err == nil {
			_ = s.Close(context.Background())
		}
		return err
	}
	q := url.Values{"tls": {"true"}, "tlsCAFile": {srv.CertFile}}
	if err := connect("mongodb://" + host + "/?" + q.Encode()); err != nil {
		t.Fatalf("tls=true with the server's CA: %v", err)
	}
	q.Set("tlsCAFile", other.CertFile)
	if err := connect("mongodb://" + host + "/?" + q.Encode()); err == nil {
		t.Fatal("connected with a CA that did not sign the server's certificate")
	}
	if err := connect("mongodb://" + host + "/"); err == nil {
		t.Fatal("connected without TLS to a TLS-only server")
	}
}
