package workerconnect_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/dispatcher/adapters/workerconnect"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// worker answers FetchItem with an item whose name has nameBytes bytes, or
// with err.
type worker struct {
	clusterv1connect.UnimplementedWorkerServiceHandler
	nameBytes int
	err       error
}

func (w *worker) FetchItem(_ context.Context, r *connect.Request[clusterv1.FetchItemRequest]) (*connect.Response[clusterv1.FetchItemResponse], error) {
	if w.err != nil {
		return nil, w.err
	}
	return connect.NewResponse(&clusterv1.FetchItemResponse{Item: &auctionv1.ItemWithHistory{
		Item: &auctionv1.Item{Id: r.Msg.GetId(), Name: strings.Repeat("x", w.nameBytes)}}}), nil
}

func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func fetch(t testing.TB, addr string, maxBytes int64) error {
	t.Helper()
	c := workerconnect.Factory(workerconnect.NewHTTPClient(), maxBytes)("w", addr)
	_, err := c.FetchItem(context.Background(), &clusterv1.FetchItemRequest{Id: "i"})
	return err
}

// A worker answer over the cap is refused, not read to its end.
func TestResponseSizeCap(t *testing.T) {
	_, h := clusterv1connect.NewWorkerServiceHandler(&worker{nameBytes: 64 << 10})
	addr := serve(t, h)
	if err := fetch(t, addr, 1<<20); err != nil {
		t.Fatalf("an answer under the cap: %v", err)
	}
	err := fetch(t, addr, 16<<10)
	if !errors.Is(err, app.ErrWorkerAnswerTooLarge) {
		t.Fatalf("an answer over the cap gave %v, want ErrWorkerAnswerTooLarge", err)
	}
}

// Every worker error maps to one of the app's errors; none passes through
// bare (a 404 from something that is not a worker is an unavailable worker,
// never "unimplemented").
func TestErrorMapping(t *testing.T) {
	notWorker := serve(t, http.NotFoundHandler())
	cases := []struct {
		name string
		addr string
		want error
	}{
		{"http 404", notWorker, app.ErrWorkerUnavailable},
		{"not found", serveErr(t, connect.CodeNotFound), app.ErrNotFound},
		{"bad token", serveErr(t, connect.CodeInvalidArgument), app.ErrBadPageToken},
		{"unavailable", serveErr(t, connect.CodeUnavailable), app.ErrWorkerUnavailable},
		{"exhausted worker", serveErr(t, connect.CodeResourceExhausted), app.ErrWorkerUnavailable},
		{"internal", serveErr(t, connect.CodeInternal), app.ErrWorkerFailed},
		{"data loss", serveErr(t, connect.CodeDataLoss), app.ErrWorkerFailed},
		{"closed port", closedAddr(t), app.ErrWorkerUnavailable},
	}
	for _, c := range cases {
		if err := fetch(t, c.addr, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// closedAddr is the address of a port this test opened and closed again.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	_ = ln.Close()
	return addr
}

func serveErr(t testing.TB, code connect.Code) string {
	_, h := clusterv1connect.NewWorkerServiceHandler(&worker{err: connect.NewError(code, errors.New("worker detail at 10.0.0.7"))})
	return serve(t, h)
}
