package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/service"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// background returns an app running loops through service.Background.
func background(t *testing.T, loops ...service.Loop) *fxtest.App {
	t.Helper()
	return fxtest.New(t, fx.Supply(quiet), fx.Invoke(func(lc fx.Lifecycle, sd fx.Shutdowner, log *slog.Logger) {
		service.Background(lc, sd, log, loops...)
	}))
}

// waitShutdown returns the exit code the app was shut down with.
func waitShutdown(t *testing.T, a *fxtest.App) int {
	t.Helper()
	select {
	case sig := <-a.Wait():
		return sig.ExitCode
	case <-time.After(10 * time.Second):
		t.Fatal("the application was not shut down")
		return -1
	}
}

func TestBackgroundStopCancelsAndWaitsForEveryLoop(t *testing.T) {
	stopped := make(chan string, 2)
	loop := func(name string) service.Loop {
		return service.Forever(name, func(ctx context.Context) {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // a loop finishing its work after the cancel
			stopped <- name
		})
	}
	a := background(t, loop("a"), loop("b"))
	a.RequireStart()
	if len(stopped) != 0 {
		t.Fatal("a loop stopped before the application did")
	}
	a.RequireStop()
	if len(stopped) != 2 {
		t.Fatalf("OnStop returned before both loops stopped: %d stopped", len(stopped))
	}
}

func TestBackgroundALoopErrorShutsTheApplicationDownWithExitCode1(t *testing.T) {
	a := background(t, service.Forever("idle", func(ctx context.Context) { <-ctx.Done() }),
		service.Loop{Name: "ingest", Run: func(context.Context) error { return errors.New("broker gone") }})
	a.RequireStart()
	if code := waitShutdown(t, a); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	a.RequireStop()
}

func TestBackgroundExitChoosesTheExitCode(t *testing.T) {
	for _, code := range []int{0, 3} {
		a := background(t, service.Loop{Name: "once", Run: func(context.Context) error { return service.Exit(code, nil) }})
		a.RequireStart()
		if got := waitShutdown(t, a); got != code {
			t.Fatalf("exit code %d, want %d", got, code)
		}
		a.RequireStop()
	}
}

func TestBackgroundALoopEndingWithoutErrorDoesNotStopTheApplication(t *testing.T) {
	a := background(t, service.Loop{Name: "short", Run: func(context.Context) error { return nil }})
	a.RequireStart()
	select {
	case sig := <-a.Wait():
		t.Fatalf("shut down with %d", sig.ExitCode)
	case <-time.After(50 * time.Millisecond):
	}
	a.RequireStop()
}

func TestBackgroundStopIsBoundedByTheStopContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := fx.New(fx.NopLogger, fx.Supply(quiet), fx.Invoke(func(lc fx.Lifecycle, sd fx.Shutdowner, log *slog.Logger) {
		service.Background(lc, sd, log, service.Forever("stuck", func(context.Context) { <-release }))
	}))
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := a.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop: %v, want the stop context's error", err)
	}
}
