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
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Loader loads a service's configuration from l; the service declares every
// variable through l, so -help can list them.
type Loader[C any] func(l *envconfig.Loader) C

// Flag is a command-line flag that sets a configuration variable: the
// feeder's -once sets FEED_ONCE=true. Its value goes through the same
// parsing and checks as the environment's, and wins over it.
type Flag struct {
	Name  string
	Var   string
	Usage string
	// Bool makes it a flag without a value (-once), setting "true".
	Bool bool
}

// envFlag is a Flag's flag.Value: it records the value under the variable's
// name.
type envFlag struct {
	set  map[string]string
	name string
	bool bool
}

func (f envFlag) String() string {
	if f.set == nil {
		return ""
	}
	return f.set[f.name]
}

func (f envFlag) Set(v string) error { f.set[f.name] = v; return nil }

func (f envFlag) IsBoolFlag() bool { return f.bool }

// Run is the whole main function of a service: parse flags, load config,
// run app(cfg) until SIGINT/SIGTERM or until the app shuts itself down. It
// exits 2 on bad configuration or flags, 1 when the application fails to
// start or stop, and otherwise with the app's own exit code.
func Run[C any](name, summary string, load Loader[C], app func(C, *slog.Logger) fx.Option, flags ...Flag) {
	os.Exit(run(name, summary, os.Args[1:], os.Stderr, nil, load, app, flags...))
}

func run[C any](name, summary string, args []string, stderr io.Writer, lookup func(string) (string, bool), load Loader[C], app func(C, *slog.Logger) fx.Option, flags ...Flag) int {
	cfg, level, code, ok := Configure(name, summary, args, stderr, lookup, load, flags...)
	if !ok {
		return code
	}
	log := NewLogger(level).With("service", name)
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
	a := New(app(cfg, log), log, reg, reg)
	if err := a.Err(); err != nil {
		log.Error("cannot build the application", "err", err)
		return 1
	}
	return runUntilDone(a)
}

// Configure is what every binary does before it runs anything: it parses
// args (each Flag sets its variable), loads the configuration through load
// from lookup (nil: the environment) with the flags' values winning, and
// reads LOG_LEVEL. On -help it prints the flags and every variable with its
// default and returns ok false with code 0; on bad flags or configuration it
// lists every problem on stderr and returns ok false with code 2.
func Configure[C any](name, summary string, args []string, stderr io.Writer, lookup func(string) (string, bool), load Loader[C], flags ...Flag) (cfg C, logLevel string, code int, ok bool) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	set := map[string]string{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, f := range flags {
		// A back-quoted name is the value's placeholder in -help: -http-addr HTTP_ADDR.
		usage := f.Usage + " (sets `" + f.Var + "`)"
		if f.Bool {
			usage = f.Usage + " (sets " + f.Var + "=true)"
		}
		fs.Var(envFlag{set: set, name: f.Var, bool: f.Bool}, f.Name, usage)
	}
	l := envconfig.New(func(k string) (string, bool) {
		if v, ok := set[k]; ok {
			return v, true
		}
		return lookup(k)
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s: %s\n", name, summary)
		if len(flags) > 0 {
			fmt.Fprintf(stderr, "\nFlags (each sets a variable and wins over the environment):\n")
			fs.PrintDefaults()
		}
		fmt.Fprintf(stderr, "\nConfiguration (environment variables):\n")
		u := envconfig.New(envconfig.FromMap(nil))
		u.OneOf("LOG_LEVEL", "info", logLevels, logLevelHelp)
		load(u)
		u.Usage(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, "", 0, false
		}
		return cfg, "", 2, false
	}
	logLevel = l.OneOf("LOG_LEVEL", "info", logLevels, logLevelHelp)
	cfg = load(l)
	if err := l.Err(); err != nil {
		// err is a header line and one bullet per problem (envconfig.Problems).
		fmt.Fprintf(stderr, "%s: %v\n(run %s -help for every variable)\n", name, err, name)
		return cfg, "", 2, false
	}
	return cfg, logLevel, 0, true
}

var logLevels = []string{"debug", "info", "warn", "error"}

const logLevelHelp = "log level of the JSON logs on stderr"

// Load reads a service's configuration through load from lookup (nil: the
// environment), as Configure does without flags: the dev stack builds its
// services' configurations this way, from env-style values.
func Load[C any](load Loader[C], lookup func(string) (string, bool)) (C, error) {
	l := envconfig.New(lookup)
	c := load(l)
	return c, l.Err()
}

// New builds a service's fx application the one way the binaries and the
// dev stack share: app (its module with its config and logger supplied,
// see each service's App), its metrics registered on reg and served from g,
// and fx's own events logged quietly to log. extra adds options of the host
// (fx.Populate in the dev stack and tests).
func New(app fx.Option, log *slog.Logger, reg prometheus.Registerer, g prometheus.Gatherer, extra ...fx.Option) *fx.App {
	return fx.New(Options(app, log, reg, g, extra...))
}

// Options are the options New builds its application from, for hosts that
// build the application themselves (fxtest.New in the modules' tests).
func Options(app fx.Option, log *slog.Logger, reg prometheus.Registerer, g prometheus.Gatherer, extra ...fx.Option) fx.Option {
	return fx.Options(app, telemetry.Metrics(reg, g), fx.WithLogger(func() fxevent.Logger { return FxLogger(log) }), fx.Options(extra...))
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
