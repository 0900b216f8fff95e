package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	worker "github.com/pawnshop/auction/services/worker/service"
)

func TestPlatformEndToEnd(t *testing.T) {
	s := startStack(t, 2)
	name := fmt.Sprintf("Lamp %d", time.Now().UnixNano())

	code, added := call(t, s, http.MethodPost, "/item/add",
		`{"name":"`+name+`","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD","ageMonths":12}`)
	if code != http.StatusAccepted {
		t.Fatalf("add: status %d %v", code, added)
	}
	id, _ := added["itemId"].(string)
	if id == "" || added["eventId"] == "" || added["writeStatus"] != "WRITE_STATUS_PUBLISHED" {
		t.Fatalf("add response: %v", added)
	}

	// The first item also waits for the consumer group's first assignment.
	eventually(t, 30*time.Second, func() error {
		if code, body := fetchItem(t, s, id); code != http.StatusOK {
			return fmt.Errorf("fetch: %d %v", code, body)
		}
		return nil
	})
	// In steady state an added item becomes readable; how fast (issue 3's
	// "well under a second") is the freshness benchmark's to measure, not a
	// timed assertion that a busy CI machine would break. The time is logged.
	code, second := call(t, s, http.MethodPost, "/item/add", `{"name":"second","category":"CATEGORY_JEWELRY","priceCents":5,"state":"STATE_NEW"}`)
	if code != http.StatusAccepted {
		t.Fatalf("add: %d %v", code, second)
	}
	start := time.Now()
	eventually(t, 15*time.Second, func() error {
		if code, body := fetchItem(t, s, second["itemId"].(string)); code != http.StatusOK {
			return fmt.Errorf("fetch: %d %v", code, body)
		}
		return nil
	})
	t.Logf("item readable %s after the add was acknowledged", time.Since(start))

	for _, a := range []struct{ path, body string }{
		{"/item/action/buy", `{"clientId":"alice","itemId":"` + id + `","priceCents":1500}`},
		{"/item/action/sell", `{"clientId":"bob","itemId":"` + id + `","priceCents":2500,"profitCents":1000,"date":"2026-11-01T10:00:00Z"}`},
		{"/item/action/pawn", `{"clientId":"carol","itemId":"` + id + `","priceCents":900,"taxCents":90,"limitDays":30}`},
	} {
		if code, body := call(t, s, http.MethodPost, a.path, a.body); code != http.StatusAccepted || body["eventId"] == "" {
			t.Fatalf("%s: %d %v", a.path, code, body)
		}
	}
	var got map[string]any
	eventually(t, 15*time.Second, func() error {
		_, got = fetchItem(t, s, id)
		iwh, _ := got["item"].(map[string]any)
		if listLen(iwh, "buys") != 1 || listLen(iwh, "sells") != 1 || listLen(iwh, "pawns") != 1 {
			return fmt.Errorf("history incomplete: %v", got)
		}
		return nil
	})
	it := itemOf(got)
	if it["name"] != name || it["priceCents"] != "1999" || it["category"] != "CATEGORY_DECORATION" || it["ageMonths"] != float64(12) {
		t.Errorf("stored item differs: %v", it)
	}
	sells := got["item"].(map[string]any)["sells"].([]any)
	if sell := sells[0].(map[string]any); sell["profitCents"] != "1000" || sell["date"] != "2026-11-01T10:00:00Z" || sell["clientId"] != "bob" {
		t.Errorf("stored sell differs: %v", sell)
	}

	for _, q := range []string{"name=" + strings.ReplaceAll(name, " ", "%20"), "category=CATEGORY_DECORATION", "state=STATE_GOOD"} {
		code, body := call(t, s, http.MethodGet, "/item/fetch?"+q+"&limit=100", "")
		if code != http.StatusOK {
			t.Fatalf("list %s: %d %v", q, code, body)
		}
		found := false
		for _, x := range body["items"].([]any) {
			iwh := x.(map[string]any)
			if iwh["item"].(map[string]any)["id"] == id {
				found = listLen(iwh, "buys") == 1
			}
		}
		if !found {
			t.Errorf("list %s: item with its history missing: %v", q, body)
		}
	}

	t.Run("pages", func(t *testing.T) {
		for i := range 5 {
			if code, _ := call(t, s, http.MethodPost, "/item/add", fmt.Sprintf(`{"id":"page-%d","name":"pager","category":"CATEGORY_MOTOR","priceCents":1,"state":"STATE_BAD"}`, i)); code != http.StatusAccepted {
				t.Fatal("add failed")
			}
		}
		var seen []string
		eventually(t, 3*time.Second, func() error {
			seen = nil
			token := ""
			for pages := 0; pages < 10; pages++ {
				code, body := call(t, s, http.MethodGet, "/item/fetch?name=pager&limit=2&pageToken="+token, "")
				if code != http.StatusOK {
					return fmt.Errorf("page: %d %v", code, body)
				}
				items, _ := body["items"].([]any)
				for _, x := range items {
					seen = append(seen, x.(map[string]any)["item"].(map[string]any)["id"].(string))
				}
				token, _ = body["nextPageToken"].(string)
				if token == "" {
					break
				}
			}
			if strings.Join(seen, ",") != "page-0,page-1,page-2,page-3,page-4" {
				return fmt.Errorf("pages gave %v", seen)
			}
			return nil
		})
	})

	t.Run("literal name match", func(t *testing.T) {
		code, body := call(t, s, http.MethodGet, `/item/fetch?name=%7B%22%24ne%22%3A%20null%7D`, "")
		if code != http.StatusOK || listLen(body, "items") != 0 {
			t.Fatalf("an operator-looking name must match literally: %d %v", code, body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name, method, path, body string
			code                     int
			mentions                 []string
		}{
			{"missing fields", "POST", "/item/add", `{}`, 400, []string{"name", "category", "priceCents", "state"}},
			{"unknown enum", "POST", "/item/add", `{"name":"x","category":"CATEGORY_SPACESHIP","priceCents":1,"state":"STATE_NEW"}`, 400, []string{"category"}},
			{"negative price", "POST", "/item/action/buy", `{"clientId":"a","itemId":"i","priceCents":-5}`, 400, []string{"priceCents"}},
			{"malformed JSON", "POST", "/item/action/sell", `{"clientId":`, 400, nil},
			{"pawn limits", "POST", "/item/action/pawn", `{"clientId":"a","itemId":"i","priceCents":5,"limitDays":0,"taxCents":-1}`, 400, []string{"limitDays", "taxCents"}},
			{"oversized body", "POST", "/item/add", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, nil},
			{"bad limit", "GET", "/item/fetch?state=STATE_NEW&limit=101", "", 400, []string{"limit"}},
			{"no filter", "GET", "/item/fetch", "", 400, []string{"filter"}},
			{"unknown id", "GET", "/item/fetch/no-such-item", "", 404, []string{"no-such-item"}},
			{"bad page token", "GET", "/item/fetch?state=STATE_NEW&pageToken=garbage", "", 400, []string{"page token"}},
		}
		for _, c := range cases {
			code, body := call(t, s, c.method, c.path, c.body)
			if code != c.code {
				t.Errorf("%s: status %d, want %d (%v)", c.name, code, c.code, body)
				continue
			}
			msg, _ := body["message"].(string)
			if body["code"] == "" || msg == "" {
				t.Errorf("%s: error body lacks code/message: %v", c.name, body)
			}
			for _, m := range c.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("%s: message %q does not name %q", c.name, msg, m)
				}
			}
		}
	})

	t.Run("connect client answers like REST", func(t *testing.T) {
		cc := auctionv1connect.NewAuctionServiceClient(client(s), s.URL(), connect.WithProtoJSON())
		res, err := cc.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: id}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetItem().GetItem().GetName() != name || len(res.Msg.GetItem().GetBuys()) != 1 {
			t.Errorf("connect GetItem: %v", res.Msg)
		}
		_, err = cc.AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Name: ""}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("connect invalid add: %v", err)
		}
		_, err = cc.GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: "missing"}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("connect missing item: %v", err)
		}
		// The same error body on both protocols.
		restCode, restBody := call(t, s, "POST", "/item/add", `{"name":""}`)
		req, _ := http.NewRequest("POST", s.URL()+"/auction.v1.AuctionService/AddItem", bytes.NewReader([]byte(`{"name":""}`)))
		req.Header.Set("Content-Type", "application/json")
		res2, err := client(s).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res2.Body.Close()
		var connectBody map[string]any
		_ = json.NewDecoder(res2.Body).Decode(&connectBody)
		if restCode != res2.StatusCode || fmt.Sprint(restBody) != fmt.Sprint(connectBody) {
			t.Errorf("REST and Connect differ:\nREST    %d %v\nConnect %d %v", restCode, restBody, res2.StatusCode, connectBody)
		}
	})

	t.Run("membership", func(t *testing.T) {
		ctx := context.Background()
		bad := s.WorkerConfig("intruder")
		bad.ClusterToken = "wrong"
		w, err := s.StartWorkerWith(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-w.Exited():
			if code != worker.ExitRejected {
				t.Errorf("wrong-token worker exit code %d, want %d", code, worker.ExitRejected)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a worker with a wrong token was not rejected")
		}
		_ = s.StopWorker(ctx, w)

		dup := s.WorkerConfig(s.Workers()[0].ID) // an id held by a live worker, at another address
		w, err = s.StartWorkerWith(ctx, dup)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-w.Exited():
			if code != worker.ExitRejected {
				t.Errorf("duplicate worker exit code %d, want %d", code, worker.ExitRejected)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a worker with a duplicate id was not rejected")
		}
		_ = s.StopWorker(ctx, w)
	})

	t.Run("reads survive a stopped worker", func(t *testing.T) {
		ws := s.Workers()
		if len(ws) != 2 {
			t.Fatalf("want 2 workers, have %d", len(ws))
		}
		if err := s.StopWorker(context.Background(), ws[0]); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if code, body := fetchItem(t, s, id); code != http.StatusOK {
				t.Fatalf("read after a worker stopped: %d %v", code, body)
			}
		}
	})
}

func TestReadsWithoutWorkersAre503(t *testing.T) {
	s := startStack(t, 0)
	code, body := fetchItem(t, s, "anything")
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["message"]), "no worker") {
		t.Fatalf("read with no worker: %d %v", code, body)
	}
	// Writes do not need a worker.
	if code, body := call(t, s, "POST", "/item/add", `{"name":"n","category":"CATEGORY_READING","priceCents":5,"state":"STATE_NEW"}`); code != http.StatusAccepted {
		t.Fatalf("write with no worker: %d %v", code, body)
	}
}
