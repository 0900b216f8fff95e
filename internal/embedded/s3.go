package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/spf13/afero"
)

// S3Config configures StartS3.
type S3Config struct {
	// Addr is the TCP listen address, like "127.0.0.1:9000", or
	// "127.0.0.1:0" for a random port. Empty means "127.0.0.1:0".
	Addr string

	// Bucket is created at start, so that clients (and a curl PUT) can use
	// it at once. Empty means no bucket is created.
	Bucket string

	// Seed maps object keys to contents put into Bucket at start, each
	// only when the key does not exist yet (so an object PUT before a
	// restart on the same DataDir wins over the seed). It needs a Bucket.
	Seed map[string][]byte

	// DataDir, when set, keeps the buckets and objects as plain files across
	// restarts (gofakes3's s3afero backend: DataDir/buckets/<bucket>/<key>,
	// their metadata under DataDir/metadata), so the fraud list can also be
	// read or edited in place; empty keeps them in memory and loses them on
	// Close.
	DataDir string
}

// S3 is a running, in-process S3 stand-in (gofakes3 over an in-memory
// backend). It exists so tests and the dev stack can exercise the real AWS
// SDK against the real S3 REST protocol without MinIO or a container. It
// serves path-style requests only ("http://host:port/bucket/key"), accepts
// any credentials or none (it checks no signature, so an unsigned
// `curl -X PUT --data-binary @file http://host:port/bucket/key` works), and
// loses its objects on Close unless it has a S3Config.DataDir.
type S3 struct {
	srv      *http.Server
	endpoint string
	served   chan struct{}

	closeOnce sync.Once
}

// StartS3 starts the S3 stand-in on cfg.Addr, creates cfg.Bucket with the
// cfg.Seed objects, and returns once it accepts connections. It lives until
// Close; ctx only bounds the start-up.
func StartS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if len(cfg.Seed) > 0 && cfg.Bucket == "" {
		return nil, errors.New("embedded s3: Seed needs a Bucket")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	var backend gofakes3.Backend = s3mem.New()
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded s3: data directory: %w", err)
		}
		fs, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), cfg.DataDir))
		if err != nil {
			return nil, fmt.Errorf("embedded s3: data directory %s: %w", cfg.DataDir, err)
		}
		backend = fs
	}
	if err := seed(backend, cfg); err != nil {
		return nil, err
	}
	// No time-skew limit: requests signed on a machine whose clock is off
	// (or replayed by hand) are still accepted, as befits a stand-in.
	faker := gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0))

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded s3: listen on %q: %w", cfg.Addr, err)
	}
	ln = advertiseReachable(ln)
	if err := ctx.Err(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("embedded s3: %w", err)
	}
	s := &S3{
		srv:      &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second},
		endpoint: "http://" + ln.Addr().String(),
		served:   make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// seed creates cfg.Bucket unless it exists and puts each cfg.Seed object
// that is not there yet.
func seed(backend gofakes3.Backend, cfg S3Config) error {
	if cfg.Bucket == "" {
		return nil
	}
	exists, err := backend.BucketExists(cfg.Bucket)
	if err != nil {
		return fmt.Errorf("embedded s3: bucket %q: %w", cfg.Bucket, err)
	}
	if !exists {
		if err := backend.CreateBucket(cfg.Bucket); err != nil {
			return fmt.Errorf("embedded s3: create bucket %q: %w", cfg.Bucket, err)
		}
	}
	for key, data := range cfg.Seed {
		_, err := backend.HeadObject(cfg.Bucket, key)
		if err == nil {
			continue // kept from an earlier run: it wins over the seed
		}
		if !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			return fmt.Errorf("embedded s3: look up %q: %w", key, err)
		}
		// Last-Modified is what gofakes3 itself records on a PUT; without
		// it a conditional GET (If-Modified-Since) misbehaves.
		meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
		if _, err := backend.PutObject(cfg.Bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			return fmt.Errorf("embedded s3: seed %q: %w", key, err)
		}
	}
	return nil
}

// Endpoint returns the base URL, "http://host:port", to give to S3 clients
// as their endpoint (with path-style addressing).
func (s *S3) Endpoint() string { return s.endpoint }

// Close stops the server; without a DataDir it drops the objects. It is
// safe to call more than once.
func (s *S3) Close() {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		<-s.served
	})
}
