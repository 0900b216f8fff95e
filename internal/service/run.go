// Package service runs a platform service: it loads and checks the typed
// configuration (listing every problem at once, or every variable on -help),
// sets up structured logging, and runs the fx application until a signal.
package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/pawnshop/auction/internal/envconfig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Loader loads a service's configuration from l; the service declares every
// variable through l, so -help can list them.
type Loader[C any] func(l *envconfig.Loader) C

// Run is the whole main function of a service: parse flags, load config,
// run app(cfg) until SIGINT/SIGTERM. It exits 2 on bad configuration and 1
// when the application fails to start or stop.
func Run[C any](name, summary string, load Loader[C], app func(C, *slog.Logger) fx.Option) {
	os.Exit(run(name, summary, os.Args[1:], os.Stderr, load, app))
}

func run[C any](name, summary string, args []string, stderr io.Writer, load Loader[C], app func(C, *slog.Logger) fx.Option) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	l := envconfig.New(nil)
	cfg := load(l)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s: %s\n\nConfiguration (environment variables):\n", name, summary)
		l.Usage(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := NewLogger(os.Getenv("LOG_LEVEL")).With("service", name)
	if err := l.Err(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n(run %s -help for every variable)\n", name, indent(err), name)
		return 2
	}
	log.Info("configuration loaded", "config", fmt.Sprintf("%+v", cfg))
	a := fx.New(app(cfg, log), fx.WithLogger(func() fxevent.Logger { return FxLogger(log) }))
	if err := a.Err(); err != nil {
		log.Error("cannot build the application", "err", err)
		return 1
	}
	a.Run()
	return 0
}

func indent(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "\n  - ")
}

// NewLogger returns a JSON slog logger at level ("debug", "info", "warn",
// "error"; default info).
func NewLogger(level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
}

// FxLogger routes fx's own events to log, quietly: its wiring details at
// debug level, failures at error level.
func FxLogger(log *slog.Logger) fxevent.Logger {
	l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
	l.UseLogLevel(slog.LevelDebug)
	return l
}
