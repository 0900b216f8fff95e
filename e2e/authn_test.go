package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/pawnshop/auction/services/devstack/stack/stacktest"
)

// publicRoute is one route of the public API as curl would call it.
type publicRoute struct {
	method, path, body string
}

// publicRoutes are every REST route and every Connect procedure (a unary
// JSON POST), with bodies that would be valid.
func publicRoutes() []publicRoute {
	rest := []publicRoute{
		{"POST", "/item/add", `{"name":"Lamp","category":"CATEGORY_DECORATION","priceCents":1,"state":"STATE_NEW"}`},
		{"POST", "/item/action/buy", `{"clientId":"zoe","itemId":"authn-item","priceCents":2}`},
		{"POST", "/item/action/sell", `{"clientId":"zoe","itemId":"authn-item","priceCents":2}`},
		{"POST", "/item/action/pawn", `{"clientId":"zoe","itemId":"authn-item","priceCents":2,"limitDays":5}`},
		{"GET", "/item/fetch/authn-item", ""},
		{"GET", "/item/fetch?name=Lamp", ""},
	}
	for _, p := range []string{
		auctionv1connect.AuctionServiceAddItemProcedure, auctionv1connect.AuctionServiceBuyItemProcedure,
		auctionv1connect.AuctionServiceSellItemProcedure, auctionv1connect.AuctionServicePawnItemProcedure,
		auctionv1connect.AuctionServiceGetItemProcedure, auctionv1connect.AuctionServiceListItemsProcedure,
	} {
		rest = append(rest, publicRoute{"POST", p, `{}`})
	}
	return rest
}

// send makes one plain HTTP request, with authorization as the
// Authorization header when it is not empty, and returns the answer with
// its body read.
func send(t testing.TB, s *stack.Stack, r publicRoute, authorization string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(r.method, s.URL()+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	// A client without credentials of its own: only what is set here is sent.
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestAPIRefusesCallersWithoutCredentials calls the dev stack the way curl
// would: every public route answers 401 with a WWW-Authenticate challenge
// without a credential or with a wrong one, and works with the stack's key
// (the one the banner prints); health, readiness (status only), the docs and
// the OpenAPI document stay open.
func TestAPIRefusesCallersWithoutCredentials(t *testing.T) {
	s := startStack(t, 1)

	wrongKey := "Bearer " + strings.Repeat("x", 3) + s.APIKey()[3:] + "x" // not an issued key
	for _, r := range publicRoutes() {
		for _, a := range []struct{ name, header string }{
			{"no credential", ""},
			{"a key not issued", "Bearer ak_" + strings.Repeat("A", 43)},
			{"a malformed bearer", wrongKey},
			{"another scheme", "Basic " + "ZGV2OmRldg=="},
		} {
			res, body := send(t, s, r, a.header)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d %s, want 401", r.method, r.path, a.name, res.StatusCode, body)
				continue
			}
			if ch := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s %s with %s: 401 with WWW-Authenticate %q, want a Bearer challenge", r.method, r.path, a.name, ch)
			}
			if strings.Contains(body, s.APIKey()) {
				t.Errorf("%s %s: the refusal echoes the key: %s", r.method, r.path, body)
			}
		}
	}

	// gRPC and gRPC-Web carry the refusal in their own framing: the
	// generated clients see unauthenticated with the challenge.
	for _, p := range []struct {
		name string
		opt  connect.ClientOption
	}{{"connect", connect.WithProtoJSON()}, {"grpc", connect.WithGRPC()}, {"grpcweb", connect.WithGRPCWeb()}} {
		anon := auctionv1connect.NewAuctionServiceClient(&http.Client{Transport: h2cTransport()}, s.URL(), p.opt)
		_, err := anon.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "authn-item"}))
		var ce *connect.Error
		switch {
		case !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated:
			t.Errorf("%s GetItem without a credential: %v, want unauthenticated", p.name, err)
		case !strings.HasPrefix(ce.Meta().Get("WWW-Authenticate"), "Bearer"):
			t.Errorf("%s GetItem without a credential: no Bearer WWW-Authenticate in the answer's metadata %v", p.name, ce.Meta())
		}
		_, err = anon.AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Name: "Lamp",
			Category: auctionv1.Category_CATEGORY_DECORATION, PriceCents: 1, State: auctionv1.State_STATE_NEW}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s AddItem without a credential: %v, want unauthenticated", p.name, err)
		}
	}

	t.Run("open routes", func(t *testing.T) {
		for _, r := range []struct {
			path string
			want int
		}{{"/healthz", 200}, {"/readyz", 200}, {"/docs/", 200}, {"/docs", 301}, {"/openapi.json", 200}} {
			res, body := send(t, s, publicRoute{method: "GET", path: r.path}, "")
			if res.StatusCode != r.want {
				t.Errorf("GET %s without a credential: %d, want %d: %.200s", r.path, res.StatusCode, r.want, body)
			}
		}
		// Readiness without admin: the status and nothing else, so no
		// worker address or list version leaks to anonymous callers.
		res, body := send(t, s, publicRoute{method: "GET", path: "/readyz"}, "")
		var anon map[string]any
		if err := json.Unmarshal([]byte(body), &anon); err != nil {
			t.Fatalf("/readyz: %d %s: %v", res.StatusCode, body, err)
		}
		for k := range anon {
			if k != "status" {
				t.Errorf("/readyz without a credential shows %q: %s", k, body)
			}
		}
		if anon["status"] != "ready" {
			t.Errorf("/readyz without a credential: %s, want status ready", body)
		}
		// With the key (it has admin), the details are there.
		_, body = send(t, s, publicRoute{method: "GET", path: "/readyz"}, "Bearer "+s.APIKey())
		var admin struct {
			Workers []struct{ ID, Address string }
		}
		if err := json.Unmarshal([]byte(body), &admin); err != nil || len(admin.Workers) == 0 || admin.Workers[0].Address == "" {
			t.Errorf("/readyz with the admin key shows no workers' addresses (%v): %s", err, body)
		}
	})

	t.Run("with the key", func(t *testing.T) {
		key := "Bearer " + s.APIKey()
		res, body := send(t, s, publicRoute{"POST", "/item/add", `{"id":"authn-item","name":"Lamp","category":"CATEGORY_DECORATION","priceCents":1,"state":"STATE_NEW"}`}, key)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /item/add with the key: %d %s", res.StatusCode, body)
		}
		eventually(t, 30*time.Second, func() error {
			if res, body := send(t, s, publicRoute{method: "GET", path: "/item/fetch/authn-item"}, key); res.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /item/fetch/authn-item: %d %s", res.StatusCode, body)
			}
			return nil
		})
		for _, r := range publicRoutes() {
			res, body := send(t, s, r, key)
			ok := []int{http.StatusOK, http.StatusAccepted}
			if strings.HasPrefix(r.path, "/auction.v1.") {
				// {} is not a valid request of every procedure; only the
				// credential matters here.
				ok = append(ok, http.StatusBadRequest, http.StatusNotFound)
			}
			if !slices.Contains(ok, res.StatusCode) {
				t.Errorf("%s %s with the key: %d %s", r.method, r.path, res.StatusCode, body)
			}
		}
		for _, p := range []connect.ClientOption{connect.WithProtoJSON(), connect.WithGRPC(), connect.WithGRPCWeb()} {
			c := auctionv1connect.NewAuctionServiceClient(&http.Client{Transport: stacktest.Bearer(s.APIKey(), h2cTransport())}, s.URL(), p)
			res, err := c.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "authn-item"}))
			if err != nil || res.Msg.GetItem().GetItem().GetName() != "Lamp" {
				t.Errorf("GetItem with the key: %v %v", res, err)
			}
		}
	})
}
