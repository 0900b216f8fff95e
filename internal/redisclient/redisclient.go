// Package redisclient builds the services' Redis clients one way. The URL is
// checked once, when the configuration loads (URL), so that a malformed
// REDIS_URL is listed with the other configuration problems and its password
// is never printed; every client then gets the same timeouts and sends
// go-redis's own log lines to log/slog (New).
//
// TLS is chosen by the URL's scheme: rediss:// connects over TLS and verifies
// the server's certificate and host name, against the system's CAs or the
// private CA named by REDIS_TLS_CA_FILE (CAFile, WithCAFile). Turning the
// verification off (go-redis's skip_verify URL parameter) is refused.
package redisclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/redis/go-redis/v9"
)

// Timeouts of every client: a Redis that does not answer within them fails
// the call (the callers retry or degrade) instead of holding a request or a
// pass.
const (
	DialTimeout  = 2 * time.Second
	ReadTimeout  = 2 * time.Second
	WriteTimeout = 2 * time.Second
	// MaxRetries is how many times a failed command is retried.
	MaxRetries = 1
)

// URL declares the Redis URL variable name on l and checks it parses as
// redis://[user:password@]host:port/db; a bad value is recorded in l without
// the URL itself (it may hold a password).
func URL(l *envconfig.Loader, name, def, help string) envconfig.Secret {
	s := l.Secret(name, def, help)
	if s == "" {
		return s // already reported as required
	}
	opts, err := redis.ParseURL(s.Reveal())
	if err != nil {
		l.Fail(name, "not a Redis URL (redis://[user:password@]host:port/db, rediss:// for TLS): %v", withoutURL(err))
		return s
	}
	if opts.TLSConfig != nil && opts.TLSConfig.InsecureSkipVerify {
		l.Fail(name, "skip_verify turns off the verification of the server's certificate; give its CA in REDIS_TLS_CA_FILE instead")
	}
	return s
}

// EnvCAFile names the variable CAFile reads.
const EnvCAFile = "REDIS_TLS_CA_FILE"

// CAFile declares REDIS_TLS_CA_FILE on l: a PEM file of the CA(s) that
// signed the Redis server's certificate, for a private CA; it applies only
// to a rediss:// URL u (as returned by URL), must be readable and hold at
// least one certificate.
func CAFile(l *envconfig.Loader, u envconfig.Secret) string {
	path := l.String(EnvCAFile, "", "PEM file of the CA that signed the Redis server's certificate (rediss:// URLs); empty: the system's CAs")
	if path == "" {
		return ""
	}
	if !strings.HasPrefix(u.Reveal(), "rediss://") {
		l.Fail(EnvCAFile, "is set but REDIS_URL is not a rediss:// (TLS) URL")
		return path
	}
	if _, err := loadPool(path); err != nil {
		l.Fail(EnvCAFile, "%v", err)
	}
	return path
}

// loadPool reads the PEM certificates of path into a pool.
func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}

// Option changes a client New builds.
type Option func(*redis.Options) error

// WithCAFile verifies a rediss:// server's certificate against the CA(s) in
// the PEM file path (as returned by CAFile) instead of the system's; an
// empty path changes nothing.
func WithCAFile(path string) Option {
	return func(o *redis.Options) error {
		if path == "" {
			return nil
		}
		if o.TLSConfig == nil {
			return fmt.Errorf("%s is set but the Redis URL is not rediss://", EnvCAFile)
		}
		pool, err := loadPool(path)
		if err != nil {
			return err
		}
		o.TLSConfig.RootCAs = pool
		return nil
	}
}

// withoutURL drops the URL itself from a parse error.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// New returns a client of the Redis at u (checked by URL) with the
// platform's timeouts. It does not dial: the first command does. It also
// routes go-redis's internal log lines to log at debug level.
func New(u envconfig.Secret, log *slog.Logger, options ...Option) (*redis.Client, error) {
	installLogger(log)
	opts, err := redis.ParseURL(u.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse the Redis URL: %w", withoutURL(err))
	}
	if opts.TLSConfig != nil {
		if opts.TLSConfig.InsecureSkipVerify {
			return nil, errors.New("the Redis URL turns off certificate verification (skip_verify)")
		}
		opts.TLSConfig.MinVersion = max(opts.TLSConfig.MinVersion, tls.VersionTLS12)
	}
	for _, o := range options {
		if err := o(opts); err != nil {
			return nil, fmt.Errorf("redis TLS: %w", err)
		}
	}
	opts.DialTimeout = DialTimeout
	opts.ReadTimeout = ReadTimeout
	opts.WriteTimeout = WriteTimeout
	opts.MaxRetries = MaxRetries
	return redis.NewClient(opts), nil
}

// logger routes go-redis's internal log lines (dial failures, pool events)
// to log/slog at debug level instead of the library's default of printing
// them to stderr; the services report Redis trouble themselves, once and
// structured, where it matters.
type logger struct{ log *slog.Logger }

func (l logger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

var once sync.Once

// installLogger sets the go-redis logger once per process (the setting is
// global).
func installLogger(log *slog.Logger) {
	once.Do(func() { redis.SetLogger(logger{log: log}) })
}
