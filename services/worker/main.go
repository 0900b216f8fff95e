// Command worker joins the dispatcher, serves fetch RPCs, and ingests the
// event topics into MongoDB.
package main

import (
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/worker/config"
	worker "github.com/pawnshop/auction/services/worker/service"
)

func main() {
	service.Run("worker", "ingests events into MongoDB and serves reads to the dispatcher", config.Load, worker.App)
}
