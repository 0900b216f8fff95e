package service

import (
	"context"
	"log/slog"

	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"go.uber.org/fx"
)

// runMigration moves, once per start and in the background, the actions a
// database holds in the previous model's collections into their items'
// documents (mongo.Store.MigrateLegacyActions): an upgraded deployment keeps
// every item's history, reads see it complete once the move is done, and
// ingest goes on meanwhile (both write idempotent upserts). A failure is
// logged; the next start tries again.
func runMigration(lc fx.Lifecycle, sd fx.Shutdowner, s *mongo.Store, log *slog.Logger) {
	log = log.With("component", "migration")
	service.Background(lc, sd, log, service.Forever("migration", func(ctx context.Context) {
		if err := s.MigrateLegacyActions(ctx, log); err != nil && ctx.Err() == nil {
			log.Error("could not move the previous model's actions; the next start tries again", "err", err)
		}
	}))
}
