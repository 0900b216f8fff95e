package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

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
	_, body := fetchItem(t, s, id)
	iwh, _ := body["item"].(map[string]any)
	list, _ := iwh["buys"].([]any)
	var out []string
	for _, b := range list {
		out = append(out, b.(map[string]any)["clientId"].(string))
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

	code, added := call(t, s, "POST", "/item/add", `{"id":"fraud-item","name":"ring","category":"CATEGORY_JEWELRY","priceCents":5000,"state":"STATE_GOOD"}`)
	if code != http.StatusAccepted {
		t.Fatal(code, added)
	}
	buy := func(client string) (int, map[string]any) {
		return call(t, s, "POST", "/item/action/buy", fmt.Sprintf(`{"clientId":"%s","itemId":"fraud-item","priceCents":100}`, client))
	}
	// The dispatcher reloads when the feeder announces the new list.
	eventually(t, 5*time.Second, func() error {
		if code, _ := buy("trudy"); code != http.StatusForbidden {
			return fmt.Errorf("trudy's buy: %d, want 403", code)
		}
		return nil
	})
	code, body := buy("mallory")
	if code != http.StatusForbidden || body["code"] != "permission_denied" || !strings.Contains(fmt.Sprint(body["message"]), "fraud list") {
		t.Fatalf("listed client: %d %v", code, body)
	}
	for _, path := range []string{"/item/action/sell", "/item/action/pawn"} {
		if code, body := call(t, s, "POST", path, `{"clientId":"mallory","itemId":"fraud-item","priceCents":100,"limitDays":5}`); code != http.StatusForbidden {
			t.Errorf("%s by a listed client: %d %v", path, code, body)
		}
	}
	// Nothing was published for them: once a later buy by alice is stored
	// (same item, same partition, behind them), the history holds only hers.
	if code, _ := buy("alice"); code != http.StatusAccepted {
		t.Fatal("alice refused")
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
		if code, body := buy("mallory"); code != http.StatusAccepted {
			return fmt.Errorf("mallory after removal: %d %v", code, body)
		}
		return nil
	})
	_, ready := call(t, s, "GET", "/readyz", "")
	if fl, _ := ready["fraudList"].(map[string]any); fl["clients"] != float64(1) || fl["ageSeconds"] == nil {
		t.Errorf("readyz does not show the list in force: %v", ready["fraudList"])
	}
}
