// Command feeder loads the fraudsters list from S3 into Redis, every
// FEED_INTERVAL or once with -once.
package main

import (
	"log/slog"
	"os"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/feeder/config"
	feeder "github.com/pawnshop/auction/services/feeder/service"
	"go.uber.org/fx"
)

func main() {
	// service.Run parses os.Args itself and knows no -once: take it out first.
	rest, load := config.WithFlags(os.Args[1:])
	os.Args = append(os.Args[:1:1], rest...)
	service.Run("feeder", "loads the fraudsters list from S3 into Redis", load,
		func(c config.Config, log *slog.Logger) fx.Option {
			return fx.Options(fx.Supply(c, log), feeder.Module)
		})
}
