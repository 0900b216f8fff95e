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
	{app.ErrBadPageToken, connect.CodeInvalidArgument},
	{app.ErrWorkerAnswerTooLarge, connect.CodeInternal},
	{app.ErrWorkerFailed, connect.CodeUnavailable},
	{app.ErrNoWorkers, connect.CodeUnavailable},
	{app.ErrWorkerUnavailable, connect.CodeUnavailable},
	{app.ErrWorkerSlow, connect.CodeUnavailable},
	{app.ErrPublishUnavailable, connect.CodeUnavailable},
	{app.ErrFraudulentClient, connect.CodePermissionDenied},
	{app.ErrInvalid, connect.CodeInvalidArgument},
	{domain.ErrBadToken, connect.CodePermissionDenied},
	{app.ErrUnknownWorker, connect.CodeNotFound},
}

// toConnectError is the one place where use-case errors become API codes.
// Clients see the app's own message, never the wrapped cause: a worker's
// *connect.Error (an address, a driver message, "unimplemented" for an HTTP
// 404) never passes through. Unknown errors become Internal with a generic
// message while the cause is logged with the request id.
func toConnectError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	for _, pe := range publicErrors {
		if errors.Is(err, pe.target) {
			switch pe.code {
			case connect.CodeUnavailable:
				log.WarnContext(ctx, "request failed", "code", pe.code.String(), "err", err)
			case connect.CodeInternal:
				log.ErrorContext(ctx, "request failed", "code", pe.code.String(), "err", err)
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
