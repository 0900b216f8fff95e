package ports

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// answer is one call's outcome as a client sees it: the code ("ok" on
// success), the error message, the response message, the field paths of the
// validation violations.
type answer struct {
	code       string
	message    string
	res        proto.Message
	violations []string
}

func (a answer) String() string {
	b, _ := protojson.Marshal(a.res)
	return a.code + " " + a.message + " " + string(b) + " " + strings.Join(a.violations, ",")
}

// fromError reads a client's error.
func fromError(err error) answer {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return answer{code: "not a connect error: " + err.Error()}
	}
	a := answer{code: cerr.Code().String(), message: cerr.Message()}
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if vs, ok := v.(*validate.Violations); ok {
				for _, vi := range vs.GetViolations() {
					a.violations = append(a.violations, vi.GetField().String())
				}
			}
		}
	}
	return a
}

// edgeCall is one RPC made over REST (method, path, JSON body) and over the
// generated client (rpc).
type edgeCall struct {
	method, path, body string
	newRes             func() proto.Message
	rpc                func(context.Context, auctionv1connect.AuctionServiceClient) (proto.Message, error)
}

var (
	getRing = edgeCall{"GET", "/item/fetch/ring-1", "", func() proto.Message { return &auctionv1.GetItemResponse{} },
		func(ctx context.Context, c auctionv1connect.AuctionServiceClient) (proto.Message, error) {
			r, err := c.GetItem(ctx, connect.NewRequest(&auctionv1.GetItemRequest{Id: "ring-1"}))
			return msgOf(r, err)
		}}
	getMissing = edgeCall{"GET", "/item/fetch/missing", "", func() proto.Message { return &auctionv1.GetItemResponse{} },
		func(ctx context.Context, c auctionv1connect.AuctionServiceClient) (proto.Message, error) {
			r, err := c.GetItem(ctx, connect.NewRequest(&auctionv1.GetItemRequest{Id: "missing"}))
			return msgOf(r, err)
		}}
	addRing = edgeCall{"POST", "/item/add", `{"id":"ring-9","name":"ring","category":"CATEGORY_JEWELRY","priceCents":100,"state":"STATE_NEW"}`,
		func() proto.Message { return &auctionv1.AddItemResponse{} },
		func(ctx context.Context, c auctionv1connect.AuctionServiceClient) (proto.Message, error) {
			r, err := c.AddItem(ctx, connect.NewRequest(&auctionv1.AddItemRequest{Id: "ring-9", Name: "ring",
				Category: auctionv1.Category_CATEGORY_JEWELRY, PriceCents: 100, State: auctionv1.State_STATE_NEW}))
			return msgOf(r, err)
		}}
	buyBy = func(client string, price int64) edgeCall {
		body, _ := json.Marshal(map[string]any{"clientId": client, "itemId": "ring-1", "priceCents": price})
		return edgeCall{"POST", "/item/action/buy", string(body), func() proto.Message { return &auctionv1.BuyItemResponse{} },
			func(ctx context.Context, c auctionv1connect.AuctionServiceClient) (proto.Message, error) {
				r, err := c.BuyItem(ctx, connect.NewRequest(&auctionv1.BuyItemRequest{ClientId: client, ItemId: "ring-1", PriceCents: price}))
				return msgOf(r, err)
			}}
	}
)

func msgOf[T any](r *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return any(r.Msg).(proto.Message), nil
}

// TestSameAnswerOnEveryProtocol drives the edge as a client does, over a
// real HTTP/2 server: REST with net/http, Connect, gRPC and gRPC-Web with
// the generated client. Each case gets the same code, message, violations
// and response on all four; the REST body is byte for byte the Connect JSON
// body; each call leaves exactly one audit record with its protocol, its
// code and the client id of the request.
func TestSameAnswerOnEveryProtocol(t *testing.T) {
	cases := []struct {
		name     string
		opts     fixtureOpts
		call     edgeCall
		code     string
		status   int // of REST
		clientID string
	}{
		{"read", fixtureOpts{}, getRing, "ok", http.StatusOK, ""},
		{"write", fixtureOpts{}, addRing, "ok", http.StatusAccepted, ""},
		{"validation error", fixtureOpts{}, buyBy("alice", -5), "invalid_argument", http.StatusBadRequest, "alice"},
		{"not found", fixtureOpts{}, getMissing, "not_found", http.StatusNotFound, ""},
		{"refused (fraud)", fixtureOpts{fraud: fraudList{"mallory": true}}, buyBy("mallory", 5), "permission_denied", http.StatusForbidden, "mallory"},
		{"unavailable", fixtureOpts{publishErr: app.ErrPublishUnavailable}, addRing, "unavailable", http.StatusServiceUnavailable, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.opts)
			srv := f.server(t, true)
			ctx := context.Background()

			rest := send(t, srv.Client(), c.call.method, srv.URL+c.call.path, contentTypeOf(c.call), c.call.body)
			got := map[string]answer{"rest": restAnswer(t, rest, c.call)}
			if rest.status != c.status {
				t.Errorf("REST: HTTP %d %s, want %d", rest.status, rest.body, c.status)
			}
			for protocol, opt := range map[string]connect.ClientOption{
				"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpcweb": connect.WithGRPCWeb(),
			} {
				client := auctionv1connect.NewAuctionServiceClient(srv.Client(), srv.URL, opt)
				res, err := c.call.rpc(ctx, client)
				if err != nil {
					got[protocol] = fromError(err)
				} else {
					got[protocol] = answer{code: "ok", res: res}
				}
			}
			if want, ok := messages[c.name]; ok && got["rest"].message != want {
				t.Errorf("message %q, want %q", got["rest"].message, want)
			}
			for protocol, a := range got {
				if a.code != c.code {
					t.Errorf("%s: %v, want code %s", protocol, a, c.code)
				}
				if !sameAnswer(a, got["rest"]) {
					t.Errorf("%s answered %v\nREST answered %v", protocol, a, got["rest"])
				}
			}
			if c.code != "ok" {
				raw := send(t, srv.Client(), "POST", srv.URL+"/auction.v1.AuctionService/"+rpcName(c.call), jsonType, connectBody(t, c.call))
				if string(raw.body) != string(rest.body) || raw.status != rest.status {
					t.Errorf("REST error body %d %s\nConnect error body %d %s\nwant the same", rest.status, rest.body, raw.status, raw.body)
				}
			}

			recs := f.audit.records()
			if len(recs) != len(got)+btoi(c.code != "ok") {
				t.Fatalf("%d audit records for %d calls: %v", len(recs), len(got)+btoi(c.code != "ok"), recs)
			}
			var protocols []string
			for _, r := range recs {
				protocols = append(protocols, r.GetProtocol())
				if r.GetStatus() != c.code || r.GetClientId() != c.clientID || r.GetRequestId() == "" || r.GetHttpStatus() == 0 {
					t.Errorf("audit record %v: want status %s client %q, a request id and an HTTP status", r, c.code, c.clientID)
				}
				if r.GetProtocol() == "rest" && int(r.GetHttpStatus()) != c.status {
					t.Errorf("REST audit record says HTTP %d, the client got %d", r.GetHttpStatus(), c.status)
				}
				wantEvent := c.code == "ok" && c.call.method == "POST"
				if (r.GetEventId() != "") != wantEvent {
					t.Errorf("audit record %v: event id present = %v, want %v", r, r.GetEventId() != "", wantEvent)
				}
			}
			slices.Sort(protocols)
			protocols = slices.Compact(protocols)
			if strings.Join(protocols, ",") != "connect,grpc,grpcweb,rest" {
				t.Errorf("audited protocols %v", protocols)
			}
		})
	}
}

// messages are the ones clients read (the README quotes the last two).
var messages = map[string]string{
	"not found":       `item "missing" not found`,
	"refused (fraud)": "the client is on the fraud list; the action was refused",
	"unavailable":     "the event store is unavailable; the write was not accepted",
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func contentTypeOf(c edgeCall) string {
	if c.method == "POST" {
		return jsonType
	}
	return ""
}

// rpcName is the procedure of a REST call.
func rpcName(c edgeCall) string {
	switch {
	case c.path == "/item/add":
		return "AddItem"
	case c.path == "/item/action/buy":
		return "BuyItem"
	}
	return "GetItem"
}

// connectBody is the Connect JSON body of a REST call.
func connectBody(t *testing.T, c edgeCall) string {
	if id, ok := strings.CutPrefix(c.path, "/item/fetch/"); ok {
		return `{"id":"` + id + `"}`
	}
	return c.body
}

// restAnswer reads a REST reply as an answer.
func restAnswer(t *testing.T, r reply, c edgeCall) answer {
	t.Helper()
	if r.status < 300 {
		res := c.newRes()
		if err := protojson.Unmarshal(r.body, res); err != nil {
			t.Fatalf("REST body %s: %v", r.body, err)
		}
		return answer{code: "ok", res: res}
	}
	body := r.json(t)
	a := answer{code: body["code"].(string), message: r.message(t)}
	if _, ok := body["details"]; ok {
		for _, vi := range violations(t, body).GetViolations() {
			a.violations = append(a.violations, vi.GetField().String())
		}
	}
	return a
}

// sameAnswer compares answers; event ids differ from call to call.
func sameAnswer(a, b answer) bool {
	if a.code != b.code || a.message != b.message || !slices.Equal(a.violations, b.violations) {
		return false
	}
	if a.res == nil || b.res == nil {
		return a.res == nil && b.res == nil
	}
	x, y := proto.Clone(a.res), proto.Clone(b.res)
	for _, m := range []proto.Message{x, y} {
		if fd := m.ProtoReflect().Descriptor().Fields().ByName("event_id"); fd != nil {
			m.ProtoReflect().Clear(fd)
		}
	}
	return proto.Equal(x, y)
}

// totalRequests sums auction_dispatcher_requests_total over its labels.
func totalRequests(m *Metrics) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { m.requests.Collect(ch); close(ch) }()
	var n float64
	for c := range ch {
		n += value(c)
	}
	return n
}

// Every public API call leaves exactly one audit record and one count,
// whoever answers it: the edge (404, 405, 415, 413, 403), Connect or the
// REST transcoder before the pipeline (a body that does not decode, a gzip
// bomb), or the pipeline. The record's code and HTTP status are what the
// client got.
func TestEveryCallAuditedOnce(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: HandlerConfig{MaxBodyBytes: 1024, Edge: EdgeConfig{CORSOrigins: []string{"https://shop.example"}}}})
	big := `{"name":"` + strings.Repeat("x", 2000) + `"}`
	cases := []struct {
		name, method, path, ctype, body string
		header                          []string
		code                            string
	}{
		{"REST write", "POST", "/item/add", jsonType, validAdd, nil, "ok"},
		{"Connect write", "POST", connectAdd, jsonType, validAdd, nil, "ok"},
		{"unknown route", "GET", "/item/nowhere", "", "", nil, "not_found"},
		{"wrong method", "GET", "/item/add", "", "", nil, "unimplemented"},
		{"REST form post", "POST", "/item/add", "text/plain", validAdd, nil, "invalid_argument"},
		{"REST body over the cap", "POST", "/item/add", jsonType, big, nil, "resource_exhausted"},
		{"REST malformed JSON", "POST", "/item/add", jsonType, `{"name":`, nil, "invalid_argument"},
		{"REST bad query", "GET", "/item/fetch?state=STATE_NEW&limit=abc", "", "", nil, "invalid_argument"},
		{"Connect malformed JSON", "POST", connectAdd, jsonType, `{"name":`, nil, "invalid_argument"},
		{"Connect body over the cap", "POST", connectAdd, jsonType, big, nil, "resource_exhausted"},
		{"gRPC malformed body", "POST", connectAdd, "application/grpc", "\x00\x00\x00\x00\x03\xff\xff\xff", nil, "invalid_argument"},
		{"gRPC-Web malformed body", "POST", connectAdd, "application/grpc-web", "\x00\x00\x00\x00\x03\xff\xff\xff", nil, "invalid_argument"},
		{"gRPC-Web over the cap", "POST", connectAdd, "application/grpc-web+json", "\x00\x00\x00\x07\xd0" + big, nil, "resource_exhausted"},
		{"preflight from another origin", "OPTIONS", "/item/add", "", "", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST"}, "permission_denied"},
		{"REST validation", "POST", "/item/action/buy", jsonType, `{"clientId":"a","itemId":"i","priceCents":-5}`, nil, "invalid_argument"},
	}
	for i, c := range cases {
		before := totalRequests(f.metrics)
		r := f.do(c.method, c.path, c.ctype, c.body, c.header...)
		recs := f.audit.records()
		if len(recs) != i+1 {
			t.Fatalf("%s: %d audit records after %d calls", c.name, len(recs), i+1)
		}
		if n := totalRequests(f.metrics) - before; n != 1 {
			t.Errorf("%s: counted %v times, want once", c.name, n)
		}
		rec := recs[i]
		if rec.GetStatus() != c.code || int(rec.GetHttpStatus()) != r.status {
			t.Errorf("%s: the client got %d %s; the audit record says %s HTTP %d, want %s HTTP %d", c.name, r.status, r.body, rec.GetStatus(), rec.GetHttpStatus(), c.code, r.status)
		}
	}
	// Health checks and worker calls are not audited.
	f.do("GET", "/healthz", "", "")
	f.do("POST", "/cluster.v1.MembershipService/Heartbeat", jsonType, `{"workerId":"w","clusterToken":"t"}`)
	if n := len(f.audit.records()); n != len(cases) {
		t.Errorf("%d audit records, want %d: health checks and worker calls are not audited", n, len(cases))
	}
}

// A REST path or query that is not UTF-8 once decoded is refused as bad
// input (a JSON body that is not UTF-8 already is), never a 500 from a
// message the transcoder could not hand on.
func TestRESTNotUTF8(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, target := range []string{"/item/fetch/%80", "/item/fetch?name=%ff", "/item/fetch?%ff=1&state=STATE_NEW"} {
		r := f.do("GET", target, "", "")
		if r.status != http.StatusBadRequest || r.json(t)["code"] != "invalid_argument" || !strings.Contains(r.message(t), "UTF-8") {
			t.Errorf("GET %s: %d %s, want 400 invalid_argument naming UTF-8", target, r.status, r.body)
		}
	}
}
