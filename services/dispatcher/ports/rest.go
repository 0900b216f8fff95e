package ports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// restServer adapts the Connect handler to the gRPC server interface that
// grpc-gateway's in-process registration calls. Each call goes through the
// same interceptors as a Connect call (the gateway skips gRPC interceptors),
// so validation and error mapping are identical on every protocol.
type restServer struct {
	auctionv1.UnimplementedAuctionServiceServer
	h            auctionv1connect.AuctionServiceHandler
	interceptors []connect.Interceptor
}

// invoke runs handler behind the interceptors, as connect.WithInterceptors
// does for a Connect handler: the first interceptor is the outermost.
func invoke[Req, Res any](ctx context.Context, s *restServer, req *Req,
	handler func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error)) (*Res, error) {
	next := connect.UnaryFunc(func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
		return handler(ctx, r.(*connect.Request[Req]))
	})
	for i := len(s.interceptors) - 1; i >= 0; i-- {
		next = s.interceptors[i].WrapUnary(next)
	}
	res, err := next(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Any().(*Res), nil
}

func (s *restServer) AddItem(ctx context.Context, r *auctionv1.AddItemRequest) (*auctionv1.AddItemResponse, error) {
	return invoke(ctx, s, r, s.h.AddItem)
}

func (s *restServer) BuyItem(ctx context.Context, r *auctionv1.BuyItemRequest) (*auctionv1.BuyItemResponse, error) {
	return invoke(ctx, s, r, s.h.BuyItem)
}

func (s *restServer) SellItem(ctx context.Context, r *auctionv1.SellItemRequest) (*auctionv1.SellItemResponse, error) {
	return invoke(ctx, s, r, s.h.SellItem)
}

func (s *restServer) PawnItem(ctx context.Context, r *auctionv1.PawnItemRequest) (*auctionv1.PawnItemResponse, error) {
	return invoke(ctx, s, r, s.h.PawnItem)
}

func (s *restServer) GetItem(ctx context.Context, r *auctionv1.GetItemRequest) (*auctionv1.GetItemResponse, error) {
	return invoke(ctx, s, r, s.h.GetItem)
}

func (s *restServer) ListItems(ctx context.Context, r *auctionv1.ListItemsRequest) (*auctionv1.ListItemsResponse, error) {
	return invoke(ctx, s, r, s.h.ListItems)
}

// JSON options shared by REST and Connect: lowerCamelCase names, enums as
// strings, zero values omitted, unknown fields ignored (as Connect does).
var (
	jsonMarshal   = protojson.MarshalOptions{}
	jsonUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// newRESTHandler returns the grpc-gateway mux serving the REST routes
// in-process, with errors written in the Connect error format.
func newRESTHandler(h auctionv1connect.AuctionServiceHandler, interceptors []connect.Interceptor, maxBody int64) (http.Handler, error) {
	errWriter := connect.NewErrorWriter()
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{MarshalOptions: jsonMarshal, UnmarshalOptions: jsonUnmarshal}),
		runtime.WithErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			_ = errWriter.Write(w, r, restError(err))
		}),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			_ = errWriter.Write(w, r, routingError(r, code))
		}),
		runtime.WithForwardResponseOption(acceptedForWrites),
		// Client headers are not forwarded as gRPC metadata: the handlers do not use them.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	if err := auctionv1.RegisterAuctionServiceHandlerServer(context.Background(), mux,
		&restServer{h: h, interceptors: interceptors}); err != nil {
		return nil, fmt.Errorf("register REST routes: %w", err)
	}
	return limitBody(mux, maxBody, errWriter), nil
}

// acceptedForWrites answers writes with 202 Accepted: they complete
// asynchronously, once a worker stores the event.
func acceptedForWrites(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	switch m.(type) {
	case *auctionv1.AddItemResponse, *auctionv1.BuyItemResponse, *auctionv1.SellItemResponse, *auctionv1.PawnItemResponse:
		w.WriteHeader(http.StatusAccepted)
	}
	return nil
}

// restError converts errors raised by the gateway itself (malformed JSON, a
// bad path or query parameter), which are gRPC statuses, to Connect errors.
func restError(err error) error {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	if st, ok := status.FromError(err); ok {
		return connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	}
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}

func routingError(r *http.Request, code int) error {
	switch code {
	case http.StatusMethodNotAllowed:
		return connect.NewError(connect.CodeUnimplemented, fmt.Errorf("method %s is not allowed on %s", r.Method, r.URL.Path))
	case http.StatusNotFound:
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("no route for %s %s", r.Method, r.URL.Path))
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("bad request to %s", r.URL.Path))
}

// limitBody reads a REST request body up to max bytes before the gateway
// sees it: a larger body gets 413 with the Connect error body, nothing is
// decoded and nothing published.
func limitBody(next http.Handler, max int64, errWriter *connect.ErrorWriter) http.Handler {
	tooLarge := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = fmt.Fprintf(w, `{"code":"resource_exhausted","message":"request body is larger than %d bytes"}`, max)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			tooLarge(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			_ = errWriter.Write(w, r, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("read request body: %w", err)))
			return
		}
		if int64(len(body)) > max {
			tooLarge(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
