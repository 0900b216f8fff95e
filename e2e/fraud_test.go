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
	"github.com/pawnshop/auction/services/devstack/stack"
)

// putObject uploads the fraud list the way the README shows with curl: a
// plain unsigned path-style PUT.
func putObject(t testing.TB, s *stack.Stack, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.S3Endpoint()+"/auction/fraud/fraudsters.txt", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT fraud list: %d", res.StatusCode)
	}
}

// feedInForce runs a feeder pass and checks that the object just put is the
// list in force: published by this pass with ids clients, or already by the
// feeder's own pass at start, which may run after the put.
func feedInForce(t testing.TB, s *stack.Stack, ids int) {
	t.Helper()
	res, err := s.Feed(context.Background())
	switch {
	case err != nil:
		t.Fatalf("feed: %v", err)
	case res.Published && res.IDs != ids:
		t.Fatalf("feed published %d ids, want %d: %+v", res.IDs, ids, res)
	case !res.Published && !strings.HasPrefix(res.Version, strings.Trim(res.ETag, `"`)+"@"):
		t.Fatalf("feed: the object put is not the list in force: %+v", res)
	}
}

// buyers returns the client ids of an item's buys.
func buyers(t testing.TB, s *stack.Stack, id string) []string {
	t.Helper()
	iwh, err := getItem(s, id)
	if err != nil {
		t.Logf("fetch %s: %v", id, err)
	}
	var out []string
	for _, b := range iwh.GetBuys() {
		out = append(out, b.GetClientId())
	}
	return out
}

// TestFraudListedClientsAreRefused is issue 4's end-to-end check: a client on
// the list in S3 is refused with 403 and nothing is published; once the list
// no longer names it, the same action is accepted.
func TestFraudListedClientsAreRefused(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 1, FeedInterval: time.Hour}) // passes on demand only (and one at start)
	putObject(t, s, "# test list\nmallory\n  trudy  \n")
	feedInForce(t, s, 2)

	client, ctx := api(s), context.Background()
	if _, err := client.AddItem(ctx, connect.NewRequest(&auctionv1.AddItemRequest{Id: "fraud-item", Name: "ring",
		Category: auctionv1.Category_CATEGORY_JEWELRY, PriceCents: 5000, State: auctionv1.State_STATE_GOOD})); err != nil {
		t.Fatal(err)
	}
	buy := func(clientID string) error {
		_, err := client.BuyItem(ctx, connect.NewRequest(&auctionv1.BuyItemRequest{ClientId: clientID, ItemId: "fraud-item", PriceCents: 100}))
		return err
	}
	// refused checks that a listed client's action is refused as permission
	// denied, saying why.
	refused := func(what string, err error) {
		t.Helper()
		if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.(*connect.Error).Message(), "fraud list") {
			t.Errorf("%s by a listed client: %v, want permission_denied naming the fraud list", what, err)
		}
	}
	// The dispatcher reloads when the feeder announces the new list.
	eventually(t, 5*time.Second, func() error {
		if err := buy("trudy"); connect.CodeOf(err) != connect.CodePermissionDenied {
			return fmt.Errorf("trudy's buy: %v, want permission_denied", err)
		}
		return nil
	})
	refused("buy", buy("mallory"))
	_, err := client.SellItem(ctx, connect.NewRequest(&auctionv1.SellItemRequest{ClientId: "mallory", ItemId: "fraud-item", PriceCents: 100}))
	refused("sell", err)
	_, err = client.PawnItem(ctx, connect.NewRequest(&auctionv1.PawnItemRequest{ClientId: "mallory", ItemId: "fraud-item", PriceCents: 100, LimitDays: 5}))
	refused("pawn", err)
	// Over REST the refusal is a 403 with the same code and reason.
	for path, extra := range map[string]string{"/item/action/buy": "", "/item/action/sell": "", "/item/action/pawn": `,"limitDays":5`} {
		code, body := call(t, s, "POST", path, `{"clientId":"mallory","itemId":"fraud-item","priceCents":100`+extra+`}`)
		if code != http.StatusForbidden || body["code"] != "permission_denied" || !strings.Contains(fmt.Sprint(body["message"]), "fraud list") {
			t.Errorf("REST %s by a listed client: %d %v", path, code, body)
		}
	}
	// Nothing was published for them: once a later buy by alice is stored
	// (same item, same partition, behind them), the history holds only hers.
	if err := buy("alice"); err != nil {
		t.Fatalf("alice refused: %v", err)
	}
	eventually(t, 30*time.Second, func() error {
		if b := buyers(t, s, "fraud-item"); len(b) == 0 {
			return fmt.Errorf("alice's buy not stored yet")
		}
		return nil
	})
	if b := buyers(t, s, "fraud-item"); len(b) != 1 || b[0] != "alice" {
		t.Fatalf("buys stored: %v, want only alice's", b)
	}

	// Remove mallory from the list: the same action is accepted.
	putObject(t, s, "trudy\n")
	feedInForce(t, s, 1)
	eventually(t, 5*time.Second, func() error {
		if err := buy("mallory"); err != nil {
			return fmt.Errorf("mallory after removal: %w", err)
		}
		return nil
	})
	_, ready := call(t, s, "GET", "/readyz", "")
	if fl, _ := ready["fraudList"].(map[string]any); fl["clients"] != float64(1) || fl["ageSeconds"] == nil {
		t.Errorf("readyz does not show the list in force: %v", ready["fraudList"])
	}
}
