// Command feeder loads the fraudsters list from S3 into Redis, every
// FEED_INTERVAL or once with -once.
package main

import (
	"flag"
	"log/slog"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/feeder/config"
	feeder "github.com/pawnshop/auction/services/feeder/service"
	"go.uber.org/fx"
)

func main() {
	service.Run("feeder", "loads the fraudsters list from S3 into Redis", config.Load,
		func(c config.Config, log *slog.Logger) fx.Option {
			return fx.Options(fx.Supply(c, log), feeder.Module)
		},
		func(fs *flag.FlagSet, c *config.Config) {
			fs.BoolVar(&c.Once, "once", c.Once, "run one pass, then exit 0 if it succeeded and 1 if not")
		})
}
