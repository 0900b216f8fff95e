// Command worker joins the dispatcher, serves fetch RPCs, and ingests the
// event topics into MongoDB.
package main

import (
	"log/slog"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/worker/config"
	worker "github.com/pawnshop/auction/services/worker/service"
	"go.uber.org/fx"
)

func main() {
	service.Run("worker", "ingests events into MongoDB and serves reads to the dispatcher", config.Load,
		func(c config.Config, log *slog.Logger) fx.Option {
			return fx.Options(fx.Supply(c, log), worker.Module)
		})
}
