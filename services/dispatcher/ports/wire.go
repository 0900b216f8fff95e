package ports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/internal/connectlimit"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// How bytes on the wire become request messages, on every protocol: the
// Connect codecs (JSON and protobuf, with errors in the client's terms,
// gzip capped) and the REST transcoder, grpc-gateway turning REST routes
// into calls of the very same pipeline and handler.

// maxProblemLen bounds the part of a decode error quoted back to a client
// (a JSON error can quote a whole oversized string value).
const maxProblemLen = 200

// jsonProblem says in a client's terms why body is not a request: it names
// the JSON field (protojson uses the JSON names) or the position of a syntax
// error, never a Go type.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is not valid JSON: it ends before the JSON value is complete"
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "the request body must be a JSON object"
	}
	// protojson's errors start "proto:" and a space that is sometimes a
	// no-break space (on purpose, against matching on them).
	msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
	if msg == "unexpected EOF" {
		return "the request body is not valid JSON: it ends before the JSON value is complete"
	}
	msg = strings.TrimPrefix(msg, "syntax error ")
	if len(msg) > maxProblemLen {
		msg = msg[:maxProblemLen] + "..."
	}
	return "the request body is not a valid JSON request: " + strings.ToValidUTF8(msg, "?")
}

// decodeError is a request body that could not be decoded; its message is
// written for the client.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// jsonCodec is Connect's JSON codec with errors in the client's terms (the
// built-in one prefixes them with the Go type of the request), decoding by
// the API's JSON rules (jsondecode.go).
type jsonCodec struct {
	name string
	dec  jsonDecoder
}

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return jsonMarshal.Marshal(pm)
}

func (c jsonCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if len(b) == 0 {
		return &decodeError{"the request body is empty; send a JSON object ({} for no fields)"}
	}
	return c.dec.unmarshal(b, pm)
}

// protoCodec is Connect's binary protobuf codec with errors in the client's
// terms.
type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return proto.Marshal(pm)
}

func (protoCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return &decodeError{"the request body is not a valid protobuf encoding of the request"}
	}
	return nil
}

// connectCodecOptions installs the codecs and the capped gzip on a handler:
// a body stops inflating one byte past maxBody. JSON bodies are decoded by
// dec; binary protobuf keeps proto's rules (unknown fields skipped).
func connectCodecOptions(maxBody int64, dec jsonDecoder) []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(protoCodec{}),
		connect.WithCodec(jsonCodec{name: "json", dec: dec}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8", dec: dec}),
		connectlimit.Gzip(maxBody),
	}
}

// JSON options shared by REST and Connect: lowerCamelCase names, enums as
// strings, zero values omitted, int64 as strings (the proto3 JSON mapping).
// Request bodies are decoded by jsonDecoder, not by these options.
var jsonMarshal = protojson.MarshalOptions{}

// restMarshaler is the gateway's JSON marshaler decoding bodies by the API's
// JSON rules (jsondecode.go), with errors in the client's terms.
type restMarshaler struct {
	runtime.JSONPb
	dec jsonDecoder
}

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
		return m.dec.unmarshal(b, pm)
	})
}

// newRESTHandler returns the REST routes: grpc-gateway decodes the path,
// query and JSON body into the request message, and restServer runs it
// through chain, the very interceptors of the Connect handler (pipeline.go),
// into the AuctionService handler: one pipeline on every protocol, the
// gateway only transcodes. Its errors, and the pipeline's, are written by
// writeError. The edge has already routed the call, checked its media type
// and read its body within the cap.
func newRESTHandler(h auctionv1connect.AuctionServiceHandler, chain []connect.Interceptor, dec jsonDecoder, log *slog.Logger) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &restMarshaler{
			JSONPb: runtime.JSONPb{MarshalOptions: jsonMarshal, UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: dec.allowUnknown}},
			dec:    dec,
		}),
		runtime.SetQueryParameterParser(enumQueryParser{}),
		runtime.WithErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			writeError(ctx, log, w, r, true, err)
		}),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, _ int) {
			// The edge routes first; what reaches here has no route.
			writeError(ctx, log, w, r, true, refuse(errNoRoute, msgNoRoute))
		}),
		runtime.WithForwardResponseOption(acceptedForWrites),
		// Client headers are not forwarded as gRPC metadata: the handlers do not use them.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	if err := auctionv1.RegisterAuctionServiceHandlerServer(context.Background(), mux, newRESTServer(h, chain)); err != nil {
		return nil, fmt.Errorf("register REST routes: %w", err)
	}
	// The caller's credential goes with the call: the gateway forwards no
	// header, so it travels in the context to the pipeline's request
	// (restMethod), where the auth step reads it as on every other protocol.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			r = r.WithContext(context.WithValue(r.Context(), authorizationKey{}, v))
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// authorizationKey carries a REST call's Authorization header to the
// pipeline's request.
type authorizationKey struct{}

// restServer is the gRPC server interface the gateway's in-process
// registration calls: each method is its procedure's pipeline.
type restServer struct {
	auctionv1.UnimplementedAuctionServiceServer
	addItem   func(context.Context, *auctionv1.AddItemRequest) (*auctionv1.AddItemResponse, error)
	buyItem   func(context.Context, *auctionv1.BuyItemRequest) (*auctionv1.BuyItemResponse, error)
	sellItem  func(context.Context, *auctionv1.SellItemRequest) (*auctionv1.SellItemResponse, error)
	pawnItem  func(context.Context, *auctionv1.PawnItemRequest) (*auctionv1.PawnItemResponse, error)
	getItem   func(context.Context, *auctionv1.GetItemRequest) (*auctionv1.GetItemResponse, error)
	listItems func(context.Context, *auctionv1.ListItemsRequest) (*auctionv1.ListItemsResponse, error)
}

func newRESTServer(h auctionv1connect.AuctionServiceHandler, chain []connect.Interceptor) *restServer {
	return &restServer{
		addItem:   restMethod(auctionv1connect.AuctionServiceAddItemProcedure, h.AddItem, chain),
		buyItem:   restMethod(auctionv1connect.AuctionServiceBuyItemProcedure, h.BuyItem, chain),
		sellItem:  restMethod(auctionv1connect.AuctionServiceSellItemProcedure, h.SellItem, chain),
		pawnItem:  restMethod(auctionv1connect.AuctionServicePawnItemProcedure, h.PawnItem, chain),
		getItem:   restMethod(auctionv1connect.AuctionServiceGetItemProcedure, h.GetItem, chain),
		listItems: restMethod(auctionv1connect.AuctionServiceListItemsProcedure, h.ListItems, chain),
	}
}

func (s *restServer) AddItem(ctx context.Context, r *auctionv1.AddItemRequest) (*auctionv1.AddItemResponse, error) {
	return s.addItem(ctx, r)
}

func (s *restServer) BuyItem(ctx context.Context, r *auctionv1.BuyItemRequest) (*auctionv1.BuyItemResponse, error) {
	return s.buyItem(ctx, r)
}

func (s *restServer) SellItem(ctx context.Context, r *auctionv1.SellItemRequest) (*auctionv1.SellItemResponse, error) {
	return s.sellItem(ctx, r)
}

func (s *restServer) PawnItem(ctx context.Context, r *auctionv1.PawnItemRequest) (*auctionv1.PawnItemResponse, error) {
	return s.pawnItem(ctx, r)
}

func (s *restServer) GetItem(ctx context.Context, r *auctionv1.GetItemRequest) (*auctionv1.GetItemResponse, error) {
	return s.getItem(ctx, r)
}

func (s *restServer) ListItems(ctx context.Context, r *auctionv1.ListItemsRequest) (*auctionv1.ListItemsResponse, error) {
	return s.listItems(ctx, r)
}

// restMethod is one procedure's pipeline for REST: chain wrapped around
// handle once, outermost first as connect.WithInterceptors applies them,
// called with the gateway's decoded message. It runs what the Connect
// handler runs after decoding, without encoding the message again for an
// in-memory Connect call (which cost a REST call about a third more CPU
// than a Connect one, BenchmarkEdgeRead).
func restMethod[Req, Res any](procedure string, handle func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), chain []connect.Interceptor) func(context.Context, *Req) (*Res, error) {
	spec := connect.Spec{Procedure: procedure, StreamType: connect.StreamTypeUnary}
	next := connect.UnaryFunc(func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
		req, ok := r.(restRequest[Req])
		if !ok {
			return nil, fmt.Errorf("REST transcoder: %s: an interceptor replaced the request with a %T", procedure, r)
		}
		return handle(ctx, req.Request)
	})
	for i := len(chain) - 1; i >= 0; i-- {
		next = chain[i].WrapUnary(next)
	}
	return func(ctx context.Context, msg *Req) (*Res, error) {
		req := connect.NewRequest(msg)
		if v, ok := ctx.Value(authorizationKey{}).(string); ok {
			req.Header().Set("Authorization", v)
		}
		res, err := next(ctx, restRequest[Req]{Request: req, spec: spec})
		if err != nil {
			return nil, err // mapped by the pipeline (mapErrors, auth, validation)
		}
		out, ok := res.(*connect.Response[Res])
		if !ok || out.Msg == nil {
			return nil, fmt.Errorf("REST transcoder: %s: the pipeline answered a %T", procedure, res)
		}
		return out.Msg, nil
	}
}

// restRequest is a REST call's request as the pipeline sees it: the
// message and its headers, with the procedure the route transcodes to
// (connect.NewRequest leaves Spec empty: only Connect's handler sets it,
// and the auth step looks the procedure up in the policy table).
type restRequest[T any] struct {
	*connect.Request[T]
	spec connect.Spec
}

func (r restRequest[T]) Spec() connect.Spec { return r.spec }

// acceptedForWrites answers writes with 202 Accepted: they complete
// asynchronously, once a worker stores the event.
func acceptedForWrites(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	switch m.(type) {
	case *auctionv1.AddItemResponse, *auctionv1.BuyItemResponse, *auctionv1.SellItemResponse, *auctionv1.PawnItemResponse:
		w.WriteHeader(http.StatusAccepted)
	}
	return nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: http.Header{}}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
