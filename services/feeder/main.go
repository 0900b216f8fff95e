// Command feeder loads the fraudsters list from S3 into Redis, every
// FEED_INTERVAL or once with -once.
package main

import (
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/feeder/config"
	feeder "github.com/pawnshop/auction/services/feeder/service"
)

func main() {
	service.Run("feeder", "loads the fraudsters list from S3 into Redis", config.Load, feeder.App,
		service.Flag{Name: "once", Var: "FEED_ONCE", Bool: true, Usage: "run one pass, then exit 0 if it succeeded and 1 if not"})
}
