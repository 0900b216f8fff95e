// Package redislog routes go-redis's internal log lines (dial failures,
// pool events) to log/slog at debug level, instead of the library's default
// of printing them to stderr; the services report Redis trouble themselves,
// once and structured, where it matters.
package redislog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

type logger struct{ log *slog.Logger }

func (l logger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

var once sync.Once

// Install sets the go-redis logger once per process (the setting is global).
func Install(log *slog.Logger) {
	once.Do(func() { redis.SetLogger(logger{log: log}) })
}
