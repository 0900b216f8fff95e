package stack

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
	"go.uber.org/fx"
)

// StartDispatcher starts one more dispatcher on the stack's backends (its
// Kafka and Redis) with env's variables over the ones the stack gives its
// own, on a random loopback port, and returns its base URL and its stop;
// it logs to log (nil: the stack's logger).
// Its metrics go to a registry of its own, and workers do not join it
// (they join the stack's dispatchers), so without a shared membership it
// serves writes only; Config.Dispatchers starts dispatchers the workers
// join. The benchmark runs one with
// AUTH_MODE=none to measure what authentication costs a request.
func (s *Stack) StartDispatcher(ctx context.Context, env map[string]string, log *slog.Logger) (url string, stop func(context.Context) error, err error) {
	vars := map[string]string{"HTTP_ADDR": "127.0.0.1:0", "CLUSTER_ADDR": "127.0.0.1:0", "READY_MIN_WORKERS": "0",
		"DISPATCHER_ID": "devstack-dispatcher-extra"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := s.dispatcherConfigWith(vars)
	if err != nil {
		return "", nil, err
	}
	var srv *dispatcher.Server
	if log == nil {
		log = s.log
	}
	log = log.With("service", "dispatcher", "dispatcher", vars["DISPATCHER_ID"])
	reg := telemetry.NewRegistry()
	a := service.New(dispatcher.App(cfg, log), log, reg, reg, fx.Populate(&srv))
	if err := a.Start(ctx); err != nil {
		return "", nil, fmt.Errorf("start dispatcher %s: %w", vars["DISPATCHER_ID"], err)
	}
	return srv.URL(), a.Stop, nil
}
