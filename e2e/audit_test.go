package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"google.golang.org/protobuf/proto"
)

// TestEveryCallIsAudited checks the long_term_storage trail: one record per
// public API call, on every protocol, successes and failures alike.
func TestEveryCallIsAudited(t *testing.T) {
	s := startStack(t, 1)
	tag := fmt.Sprint(time.Now().UnixNano())
	rid := func(name string) string { return "audit-" + tag + "-" + name }

	req := func(name, method, path, body string) int {
		r, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		r.Header.Set("X-Request-Id", rid(name))
		r.Header.Set("Content-Type", "application/json")
		res, err := client(s).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	req("rest-add", "POST", "/item/add", `{"id":"audited","name":"a","category":"CATEGORY_READING","priceCents":1,"state":"STATE_NEW"}`)
	req("rest-buy", "POST", "/item/action/buy", `{"clientId":"zoe","itemId":"audited","priceCents":2}`)
	req("rest-bad", "POST", "/item/add", `{"name":""}`)
	req("rest-json", "POST", "/item/add", `{"name":`)
	req("rest-404", "GET", "/item/fetch/nothing-here", "")

	withID := func(name string) connect.ClientOption {
		return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
				r.Header().Set("X-Request-Id", rid(name))
				return next(ctx, r)
			}
		}))
	}
	for _, c := range []struct {
		name string
		opt  connect.ClientOption
	}{{"connect", connect.WithProtoJSON()}, {"grpc", connect.WithGRPC()}, {"grpcweb", connect.WithGRPCWeb()}} {
		client := auctionv1connect.NewAuctionServiceClient(h2cClient(s), s.URL(), c.opt, withID(c.name))
		_, _ = client.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "nothing-here"}))
	}

	want := map[string]struct{ route, protocol, status, client string }{
		"rest-add":  {"POST /item/add", "rest", "ok", ""},
		"rest-buy":  {"POST /item/action/buy", "rest", "ok", "zoe"},
		"rest-bad":  {"POST /item/add", "rest", "invalid_argument", ""},
		"rest-json": {"POST /item/add", "rest", "invalid_argument", ""},
		"rest-404":  {"GET /item/fetch/{id}", "rest", "not_found", ""},
		"connect":   {"/auction.v1.AuctionService/GetItem", "connect", "not_found", ""},
		"grpc":      {"/auction.v1.AuctionService/GetItem", "grpc", "not_found", ""},
		"grpcweb":   {"/auction.v1.AuctionService/GetItem", "grpcweb", "not_found", ""},
	}
	got := map[string]*eventsv1.AuditRecord{}
	eventually(t, 15*time.Second, func() error {
		for _, m := range readTopic(t, s, defaultTopics.LongTermStorage) {
			var r eventsv1.AuditRecord
			if err := proto.Unmarshal(m.Value, &r); err != nil {
				return err
			}
			if name, ok := strings.CutPrefix(r.GetRequestId(), "audit-"+tag+"-"); ok {
				got[name] = &r
			}
		}
		if len(got) < len(want) {
			return fmt.Errorf("%d of %d audit records", len(got), len(want))
		}
		return nil
	})
	for name, w := range want {
		r := got[name]
		if r.GetRoute() != w.route || r.GetProtocol() != w.protocol || r.GetStatus() != w.status || r.GetClientId() != w.client {
			t.Errorf("%s: got route=%q protocol=%q status=%q client=%q, want %+v", name, r.GetRoute(), r.GetProtocol(), r.GetStatus(), r.GetClientId(), w)
		}
		if r.GetLatency() == nil || r.GetTime() == nil || r.GetHttpStatus() == 0 {
			t.Errorf("%s: incomplete record %v", name, r)
		}
	}
	if got["rest-add"].GetEventId() == "" || got["rest-buy"].GetEventId() == "" {
		t.Errorf("successful writes must carry their event id: %v / %v", got["rest-add"], got["rest-buy"])
	}
}
