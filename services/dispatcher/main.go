// Command dispatcher is the platform's only entry point: it serves the public
// API, publishes writes to Kafka and routes reads to joined workers.
package main

import (
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/dispatcher/config"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
)

func main() {
	service.Run("dispatcher", "the public API of the auction platform", config.Load, dispatcher.App)
}
