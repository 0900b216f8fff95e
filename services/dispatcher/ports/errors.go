// Package ports exposes the dispatcher's use cases: the public AuctionService
// over Connect, gRPC, gRPC-Web and REST (grpc-gateway, in-process), the
// MembershipService for workers, health and reflection, all on one handler.
package ports

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/domain"
)

// publicErrors maps each use-case error to its code and the message clients
// see. The wrapped cause stays in the logs, never in the response.
var publicErrors = []struct {
	target error
	code   connect.Code
}{
	{app.ErrNotFound, connect.CodeNotFound},
	{app.ErrNoWorkers, connect.CodeUnavailable},
	{app.ErrWorkerUnavailable, connect.CodeUnavailable},
	{app.ErrWorkerSlow, connect.CodeUnavailable},
	{app.ErrPublishUnavailable, connect.CodeUnavailable},
	{app.ErrFraudulentClient, connect.CodePermissionDenied},
	{app.ErrInvalid, connect.CodeInvalidArgument},
	{domain.ErrBadToken, connect.CodePermissionDenied},
	{app.ErrUnknownWorker, connect.CodeNotFound},
}

// toConnectError is the one place where errors become API codes. Errors that
// already carry a code (validation) pass through; unknown errors become
// Internal with a generic message while the cause is logged.
func toConnectError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	for _, pe := range publicErrors {
		if errors.Is(err, pe.target) {
			if pe.code == connect.CodeUnavailable {
				log.WarnContext(ctx, "request failed", "code", pe.code.String(), "err", err)
			}
			return connect.NewError(pe.code, pe.target)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the request took longer than its deadline"))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the request was canceled"))
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
