// Package service runs a platform service: it loads and checks the typed
// configuration (listing every problem at once, or every variable on -help),
// sets up structured logging, and runs the fx application until a signal.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/telemetry"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Loader loads a service's configuration from l; the service declares every
// variable through l, so -help can list them.
type Loader[C any] func(l *envconfig.Loader) C

// Flags declares a service's command-line flags on fs; a flag overrides
// the value the environment gave c.
type Flags[C any] func(fs *flag.FlagSet, c *C)

// Run is the whole main function of a service: parse flags, load config,
// run app(cfg) until SIGINT/SIGTERM or until the app shuts itself down. It
// exits 2 on bad configuration or flags, 1 when the application fails to
// start or stop, and otherwise with the app's own exit code.
func Run[C any](name, summary string, load Loader[C], app func(C, *slog.Logger) fx.Option, flags ...Flags[C]) {
	os.Exit(run(name, summary, os.Args[1:], os.Stderr, load, app, flags...))
}

func run[C any](name, summary string, args []string, stderr io.Writer, load Loader[C], app func(C, *slog.Logger) fx.Option, flags ...Flags[C]) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	l := envconfig.New(nil)
	level := l.OneOf("LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level of the JSON logs on stderr")
	cfg := load(l)
	for _, f := range flags {
		f(fs, &cfg)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s: %s\n", name, summary)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
		fmt.Fprintf(stderr, "\nConfiguration (environment variables):\n")
		l.Usage(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := NewLogger(level).With("service", name)
	if err := l.Err(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n(run %s -help for every variable)\n", name, indent(err), name)
		return 2
	}
	log.Info("configuration loaded", "config", fmt.Sprintf("%+v", cfg))
	shutdownTracing, err := telemetry.Setup(context.Background(), name)
	if err != nil {
		log.Error("cannot set up tracing", "err", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(ctx)
	}()
	reg := telemetry.NewRegistry()
	a := fx.New(app(cfg, log), telemetry.Metrics(reg, reg), fx.WithLogger(func() fxevent.Logger { return FxLogger(log) }))
	if err := a.Err(); err != nil {
		log.Error("cannot build the application", "err", err)
		return 1
	}
	return runUntilDone(a)
}

// runUntilDone starts a, waits for a signal or for a to shut itself down,
// stops it, and returns the exit code.
func runUntilDone(a *fx.App) int {
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return 1
	}
	sig := <-a.Wait()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancelStop()
	if err := a.Stop(stopCtx); err != nil {
		return 1
	}
	return sig.ExitCode
}

func indent(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "\n  - ")
}

// NewLogger returns a JSON slog logger, which adds the request id to records
// logged with a request's context, at level ("debug", "info", "warn",
// "error"; default info).
func NewLogger(level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(requestid.LogHandler{Handler: slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv})})
}

// FxLogger routes fx's own events to log, quietly: its wiring details at
// debug level, failures at error level.
func FxLogger(log *slog.Logger) fxevent.Logger {
	l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
	l.UseLogLevel(slog.LevelDebug)
	return l
}
