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
// into calls of the very same Connect handler, in-process.

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
// query and JSON body into the request message and hands it to a Connect
// client bound to rpc, the Connect handler of AuctionService, in-process.
// The call thus runs the one pipeline of interceptors (pipeline.go) exactly
// as a Connect call does; the gateway only transcodes. Its errors, and the
// pipeline's coming back, are written by writeError. The edge has already
// routed the call, checked its media type and read its body within the cap.
func newRESTHandler(rpc http.Handler, dec jsonDecoder, log *slog.Logger) (http.Handler, error) {
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
	client := auctionv1connect.NewAuctionServiceClient(inProcess{rpc}, "http://in-process",
		connect.WithAcceptCompression("gzip", nil, nil)) // no gzip in memory
	if err := auctionv1.RegisterAuctionServiceHandlerServer(context.Background(), mux, &restServer{c: client}); err != nil {
		return nil, fmt.Errorf("register REST routes: %w", err)
	}
	// The caller's credential goes with the call: the gateway forwards no
	// header, so it travels in the context to the in-process request
	// (inProcess.Do), where the pipeline's auth step reads it as on every
	// other protocol.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			r = r.WithContext(context.WithValue(r.Context(), authorizationKey{}, v))
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// authorizationKey carries a REST call's Authorization header to the
// in-process Connect call.
type authorizationKey struct{}

// restServer is the gRPC server interface the gateway's in-process
// registration calls, implemented by the Connect client of the pipeline.
type restServer struct {
	auctionv1.UnimplementedAuctionServiceServer
	c auctionv1connect.AuctionServiceClient
}

func unary[Req, Res any](ctx context.Context, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (*Res, error) {
	res, err := f(ctx, connect.NewRequest(req))
	if connect.IsWireError(err) {
		return nil, err // the pipeline's answer, already in the API's terms
	}
	if err != nil {
		// The in-process client itself failed (an expired deadline, a
		// message it could not encode): not the pipeline's answer, so the
		// one mapper decides what the client reads (the cause is logged).
		return nil, fmt.Errorf("REST transcoder: in-process call: %w", err)
	}
	return res.Msg, nil
}

func (s *restServer) AddItem(ctx context.Context, r *auctionv1.AddItemRequest) (*auctionv1.AddItemResponse, error) {
	return unary(ctx, s.c.AddItem, r)
}

func (s *restServer) BuyItem(ctx context.Context, r *auctionv1.BuyItemRequest) (*auctionv1.BuyItemResponse, error) {
	return unary(ctx, s.c.BuyItem, r)
}

func (s *restServer) SellItem(ctx context.Context, r *auctionv1.SellItemRequest) (*auctionv1.SellItemResponse, error) {
	return unary(ctx, s.c.SellItem, r)
}

func (s *restServer) PawnItem(ctx context.Context, r *auctionv1.PawnItemRequest) (*auctionv1.PawnItemResponse, error) {
	return unary(ctx, s.c.PawnItem, r)
}

func (s *restServer) GetItem(ctx context.Context, r *auctionv1.GetItemRequest) (*auctionv1.GetItemResponse, error) {
	return unary(ctx, s.c.GetItem, r)
}

func (s *restServer) ListItems(ctx context.Context, r *auctionv1.ListItemsRequest) (*auctionv1.ListItemsResponse, error) {
	return unary(ctx, s.c.ListItems, r)
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

// inProcess is a connect.HTTPClient that serves each request with h in
// memory: no socket, no second trip through the edge, none of http.Client's
// machinery (redirects, cookies, timeouts: the context has the deadline). The request keeps the
// caller's context, so the request id, the deadline and the audited call
// begun at the edge reach the pipeline.
type inProcess struct{ h http.Handler }

func (t inProcess) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if v, ok := r.Context().Value(authorizationKey{}).(string); ok {
		r.Header.Set("Authorization", v)
	}
	w := newBufferedResponse()
	t.h.ServeHTTP(w, r)
	w.WriteHeader(http.StatusOK) // if the handler wrote nothing
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: r,
	}, nil
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
