package ports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"google.golang.org/grpc/codes"
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

// restMarshaler is the gateway's JSON marshaler with decode errors in the
// client's terms (the JSON field or the position of a syntax error).
type restMarshaler struct{ runtime.JSONPb }

func (m *restMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		pm, ok := v.(proto.Message)
		if !ok {
			return errors.New("not a protobuf message")
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return io.EOF // no body: a request with no fields set
		}
		if err := jsonUnmarshal.Unmarshal(b, pm); err != nil {
			return &decodeError{jsonProblem(err)}
		}
		return nil
	})
}

// newRESTHandler returns the grpc-gateway mux serving the REST routes
// in-process, with errors written in the Connect error format.
func newRESTHandler(h auctionv1connect.AuctionServiceHandler, interceptors []connect.Interceptor, maxBody int64) (http.Handler, error) {
	errWriter := connect.NewErrorWriter()
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &restMarshaler{runtime.JSONPb{MarshalOptions: jsonMarshal, UnmarshalOptions: jsonUnmarshal}}),
		runtime.WithErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			_ = errWriter.Write(w, jsonRequest, restError(err))
		}),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			_ = errWriter.Write(w, jsonRequest, routingError(r, code))
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
// bad path or query parameter), which are gRPC statuses, to Connect errors
// whose messages speak of the request, not of the gateway's internals.
func restError(err error) error {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	st, ok := status.FromError(err)
	if !ok {
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	if st.Code() != codes.InvalidArgument {
		// The gateway raises no other code by itself; handlers' errors are
		// *connect.Error above.
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	return connect.NewError(connect.CodeInvalidArgument, errors.New(gatewayProblem(st.Message())))
}

// queryFieldError matches the gateway's query parameter errors, which name
// the proto field and quote Go's parse errors.
var queryFieldError = regexp.MustCompile(`^(?:parsing (?:field|list|map key|map value)|too many values for field|field already set for oneof|field) "([A-Za-z0-9_]+)"`)

// gatewayProblem rewrites a message of the gateway's own InvalidArgument
// errors: decode errors are already in the client's terms (decodeError),
// query parameter errors name the parameter by its JSON name.
func gatewayProblem(msg string) string {
	if strings.HasPrefix(msg, "the request body ") {
		return msg
	}
	if m := queryFieldError.FindStringSubmatch(msg); m != nil {
		name := jsonName(m[1])
		switch {
		case strings.HasPrefix(msg, "too many values"):
			return fmt.Sprintf("query parameter %s is given more than once", name)
		case strings.HasPrefix(msg, "field already set for oneof"):
			return fmt.Sprintf("give only one of the %s parameters (name, category, state)", name)
		}
		return fmt.Sprintf("query parameter %s has an invalid value", name)
	}
	return "the request is invalid (path, query string or headers)"
}

// routingError answers what the edge did not already refuse (it checks
// routes and methods first): a JSON 404.
func routingError(_ *http.Request, code int) error {
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return connect.NewError(connect.CodeNotFound, errors.New(msgNoRoute))
	}
	return connect.NewError(connect.CodeInvalidArgument, errors.New("bad request"))
}

// limitBody reads a REST request body up to max bytes before the gateway
// sees it: a larger body gets 413 with the Connect error body, nothing is
// decoded and nothing published. The read ends with the request's context
// (its deadline) as well as with the server's body-read deadline.
func limitBody(next http.Handler, max int64, errWriter *connect.ErrorWriter) http.Handler {
	tooLarge := func(w http.ResponseWriter) {
		writeErrorBody(w, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted, fmt.Sprintf("request body is larger than %d bytes", max))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			tooLarge(w)
			return
		}
		// A read blocked on a silent client returns once the context ends.
		rc := http.NewResponseController(w)
		stop := context.AfterFunc(r.Context(), func() { _ = rc.SetReadDeadline(time.Now()) })
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		stop()
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			tooLarge(w)
			return
		case err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || r.Context().Err() != nil):
			writeErrorBody(w, http.StatusRequestTimeout, connect.CodeDeadlineExceeded, "the request body did not arrive in time")
			return
		case err != nil:
			_ = errWriter.Write(w, jsonRequest, connect.NewError(connect.CodeInvalidArgument, errors.New("the request body could not be read")))
			return
		case int64(len(body)) > max:
			tooLarge(w)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// jsonRequest makes a connect.ErrorWriter answer in the Connect JSON format.
var jsonRequest = &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}}
