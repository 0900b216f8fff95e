// Package redisclient builds the services' Redis clients one way. The URL is
// checked once, when the configuration loads (URL), so that a malformed
// REDIS_URL is listed with the other configuration problems and its password
// is never printed; every client then gets the same timeouts and sends
// go-redis's own log lines to log/slog (New).
package redisclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
	if _, err := redis.ParseURL(s.Reveal()); err != nil {
		l.Fail(name, "not a Redis URL (redis://[user:password@]host:port/db): %v", withoutURL(err))
	}
	return s
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
func New(u envconfig.Secret, log *slog.Logger) (*redis.Client, error) {
	installLogger(log)
	opts, err := redis.ParseURL(u.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parse the Redis URL: %w", withoutURL(err))
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
