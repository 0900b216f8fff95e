package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.uber.org/fx"
)

// Loop is one background loop of a service: Run works until its context is
// cancelled (the application stops) and then returns. Returning earlier with
// an error means the loop failed: the application is shut down, with exit
// code 1 or the code of an ExitError.
type Loop struct {
	Name string
	Run  func(context.Context) error
}

// Forever is a Loop that cannot fail: run works until its context ends.
func Forever(name string, run func(context.Context)) Loop {
	return Loop{Name: name, Run: func(ctx context.Context) error { run(ctx); return nil }}
}

// ExitError is returned by a loop that stops the application with Code: a
// rejected worker exits 3, a one-shot feeder 0 or 1. Err, when set, is
// logged.
type ExitError struct {
	Code int
	Err  error
}

// Exit returns an ExitError.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return fmt.Sprintf("exit %d: %v", e.Code, e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

// Background runs loops from the application's start to its stop. OnStart
// starts each in a goroutine with a context that OnStop cancels; OnStop then
// waits for every loop to return, at most until the stop context ends. A
// loop that returns an error before the stop shuts the application down
// through sd (see Loop). Hooks are run in order at start and in reverse at
// stop, so a hook appended before Background starts before the loops and
// stops after they have returned.
func Background(lc fx.Lifecycle, sd fx.Shutdowner, log *slog.Logger, loops ...Loop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, len(loops))
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			for _, l := range loops {
				go func() {
					defer func() { done <- l.Name }()
					err := l.Run(ctx)
					if ctx.Err() != nil {
						return // stopping: whatever it returned is the stop's doing
					}
					report(sd, log, l.Name, err)
				}()
			}
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			running := map[string]int{}
			for _, l := range loops {
				running[l.Name]++
			}
			for range loops {
				select {
				case name := <-done:
					running[name]--
				case <-stopCtx.Done():
					var names []string
					for name, n := range running {
						if n > 0 {
							names = append(names, name)
						}
					}
					return fmt.Errorf("background loops %v did not stop in time: %w", names, stopCtx.Err())
				}
			}
			return nil
		},
	})
}

// report acts on what a loop returned before the stop: nil means it has
// simply ended; an error shuts the application down with exit code 1, an
// ExitError with its own code.
func report(sd fx.Shutdowner, log *slog.Logger, name string, err error) {
	if err == nil {
		log.Debug("background loop ended", "loop", name)
		return
	}
	code := 1
	if exit, ok := errors.AsType[*ExitError](err); ok {
		code, err = exit.Code, exit.Err
	}
	switch {
	case err != nil:
		log.Error("background loop failed; stopping the application", "loop", name, "err", err, "exit_code", code)
	case code != 0:
		log.Error("background loop stopped the application", "loop", name, "exit_code", code)
	default:
		log.Info("background loop done; stopping the application", "loop", name, "exit_code", code)
	}
	_ = sd.Shutdown(fx.ExitCode(code))
}
