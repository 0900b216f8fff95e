package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
)

// Re-adding an item id: another body answers 409 already_exists naming the
// id, over REST and Connect, on the stack's real wiring (claims in its
// Redis); the same body again is an idempotent retry answered as the first;
// the stored item is the first one.
func TestReAddingAnItemID(t *testing.T) {
	s := startStack(t, 1)
	first := `{"id":"vase-42","name":"Blue vase","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD"}`
	other := `{"id":"vase-42","name":"Red vase","category":"CATEGORY_DECORATION","priceCents":2999,"state":"STATE_GOOD"}`

	if st, body := call(t, s, http.MethodPost, "/item/add", first); st != http.StatusAccepted || body["itemId"] != "vase-42" {
		t.Fatalf("first add: %d %v, want 202 with itemId vase-42", st, body)
	}
	st, body := call(t, s, http.MethodPost, "/item/add", other)
	if msg, _ := body["message"].(string); st != http.StatusConflict || body["code"] != "already_exists" || !strings.Contains(msg, `"vase-42"`) {
		t.Errorf("REST add with another body: %d %v, want 409 already_exists naming vase-42", st, body)
	}

	// Connect, JSON over HTTP as curl would send it, and the generated client.
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/auction.v1.AuctionService/AddItem", strings.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(raw), `"already_exists"`) {
		t.Errorf("Connect JSON add with another body: %d %s, want 409 already_exists", res.StatusCode, raw)
	}
	_, err = api(s).AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Id: "vase-42", Name: "Red vase",
		Category: auctionv1.Category_CATEGORY_DECORATION, PriceCents: 2999, State: auctionv1.State_STATE_GOOD}))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Errorf("Connect client add with another body: %v, want already_exists", err)
	}

	// The same body again, spelled differently (field order), on Connect:
	// the same success.
	again, err := api(s).AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{State: auctionv1.State_STATE_GOOD,
		PriceCents: 1999, Category: auctionv1.Category_CATEGORY_DECORATION, Name: "Blue vase", Id: "vase-42"}))
	if err != nil || again.Msg.GetItemId() != "vase-42" {
		t.Fatalf("retry of the first add: %v %v, want success for vase-42", again, err)
	}

	eventually(t, 10*time.Second, func() error {
		st, body := fetchItem(t, s, "vase-42")
		if st != http.StatusOK {
			return fmt.Errorf("fetch: %d %v", st, body)
		}
		if it := itemOf(body); it["name"] != "Blue vase" {
			return fmt.Errorf("stored item %v, want the first one (Blue vase)", it)
		}
		return nil
	})
}
