package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/worker/app"
)

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) Item(context.Context, string) (*auctionv1.ItemWithHistory, error) {
	return nil, r.err
}

func (r failingReader) Items(context.Context, app.Filter, string, int) ([]*auctionv1.ItemWithHistory, error) {
	return nil, r.err
}

// The worker's errors reach the dispatcher as their codes, with the app's
// message and never the cause (a driver message, an address); any other
// failure is unavailable, so that the dispatcher tries another worker.
func TestWorkerErrorCodes(t *testing.T) {
	const secret = "mongodb://10.1.2.3:27017 connection reset"
	for _, c := range []struct {
		err  error
		code connect.Code
	}{
		{fmt.Errorf("find %s: %w", secret, app.ErrNotFound), connect.CodeNotFound},
		{fmt.Errorf("decode %s: %w", secret, app.ErrBadPageToken), connect.CodeInvalidArgument},
		{fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), connect.CodeDeadlineExceeded},
		{errors.New(secret), connect.CodeUnavailable},
	} {
		h := NewWorkerHandler(app.NewFetch(failingReader{c.err}), slog.New(slog.DiscardHandler))
		_, handler := clusterv1connect.NewWorkerServiceHandler(h)
		srv := httptest.NewServer(handler)
		client := clusterv1connect.NewWorkerServiceClient(srv.Client(), srv.URL)
		_, itemErr := client.FetchItem(context.Background(), connect.NewRequest(&clusterv1.FetchItemRequest{Id: "x"}))
		_, listErr := client.FetchItemsByName(context.Background(), connect.NewRequest(&clusterv1.FetchItemsByNameRequest{Name: "x", Page: &clusterv1.Page{Limit: 10}}))
		srv.Close()
		for _, err := range []error{itemErr, listErr} {
			if connect.CodeOf(err) != c.code {
				t.Errorf("%v: got %v, want %s", c.err, err, c.code)
			}
			if err != nil && (strings.Contains(err.Error(), "10.1.2.3") || strings.Contains(err.Error(), "mongodb")) {
				t.Errorf("%v: the cause reached the client: %v", c.err, err)
			}
		}
	}
}
