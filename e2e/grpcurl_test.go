package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grpcurlVersion is the grpcurl the test installs: the newest release on the
// module proxy that builds with the project's Go.
const grpcurlVersion = "v1.9.4"

// installGrpcurl builds grpcurl at grpcurlVersion into dir with go install,
// as a user would, and returns the binary's path.
func installGrpcurl(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	// GOFLAGS is cleared so that a -mod setting meant for this module does
	// not leak into the install of another one.
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOTOOLCHAIN=local")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("could not install grpcurl %s (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@%s needs the Go module proxy "+
			"or a module cache that holds it): %v\n%s", grpcurlVersion, grpcurlVersion, err, out)
	}
	t.Logf("installed grpcurl %s in %s", grpcurlVersion, time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "grpcurl")
}

// TestGrpcurl uses the platform the way a person with grpcurl would:
// plaintext HTTP/2 (h2c) to the dispatcher, the schema from server
// reflection, JSON in and out, the API key in the header the dev stack's
// banner shows (-H "authorization: Bearer $AUCTION_TOKEN").
func TestGrpcurl(t *testing.T) {
	grpcurl := installGrpcurl(t, t.TempDir())
	s := startStack(t, 1)
	addr := strings.TrimPrefix(s.URL(), "http://") // grpcurl wants host:port

	// anonymous runs grpcurl with args and returns its exit error and
	// output; run does it with the key.
	anonymous := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, grpcurl, append([]string{"-plaintext", "-max-time", "10"}, args...)...).CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) (string, error) {
		return anonymous(append([]string{"-H", "authorization: Bearer " + s.APIKey()}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	if out := must(addr, "list"); !strings.Contains(out, "auction.v1.AuctionService\n") {
		t.Errorf("grpcurl list does not show auction.v1.AuctionService:\n%s", out)
	}
	out := must(addr, "describe", "auction.v1.AuctionService")
	for _, rpc := range []string{"AddItem", "BuyItem", "SellItem", "PawnItem", "GetItem", "ListItems"} {
		if !strings.Contains(out, "rpc "+rpc+" (") {
			t.Errorf("describe does not show rpc %s:\n%s", rpc, out)
		}
	}
	if out := must(addr, "describe", "auction.v1.AddItemRequest"); !strings.Contains(out, "int64 price_cents = 4") {
		t.Errorf("describe auction.v1.AddItemRequest does not show price_cents:\n%s", out)
	}

	name := fmt.Sprintf("Brass lamp %d", time.Now().UnixNano())
	out = must("-d", `{"name":"`+name+`","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD","ageMonths":120}`,
		addr, "auction.v1.AuctionService/AddItem")
	var added struct{ ItemID, EventID, WriteStatus string }
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.ItemID == "" || added.EventID == "" {
		t.Fatalf("AddItem answered %q (%v); want an itemId and an eventId", out, err)
	}

	// The item is stored asynchronously: poll GetItem until it is there.
	var got struct {
		Item struct {
			Item struct{ ID, Name, Category, PriceCents string }
		}
	}
	eventually(t, 30*time.Second, func() error {
		out, err := run("-d", `{"id":"`+added.ItemID+`"}`, addr, "auction.v1.AuctionService/GetItem")
		if err != nil {
			return fmt.Errorf("GetItem: %v: %s", err, out)
		}
		return json.Unmarshal([]byte(out), &got)
	})
	if it := got.Item.Item; it.ID != added.ItemID || it.Name != name || it.Category != "CATEGORY_DECORATION" || it.PriceCents != "1999" {
		t.Errorf("GetItem returned %+v", it)
	}

	// A refused call: grpcurl exits non-zero and shows the code and the
	// violated fields.
	out, err := run("-d", `{"name":"","priceCents":-1}`, addr, "auction.v1.AuctionService/AddItem")
	for _, want := range []string{"Code: InvalidArgument", " - name: ", " - priceCents: ", "buf.validate.Violations", `"fieldName": "priceCents"`} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("invalid AddItem: err %v, output lacks %q:\n%s", err, want, out)
		}
	}
	head, _, _ := strings.Cut(out, "Details:")
	t.Logf("invalid AddItem through grpcurl:\n%s", head)

	// Without the key: refused, unauthenticated.
	out, err = anonymous("-d", `{"id":"`+added.ItemID+`"}`, addr, "auction.v1.AuctionService/GetItem")
	if err == nil || !strings.Contains(out, "Code: Unauthenticated") {
		t.Errorf("GetItem without the key: err %v, want Code: Unauthenticated:\n%s", err, out)
	}
}
