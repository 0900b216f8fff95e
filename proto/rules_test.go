// Package proto_test checks the protovalidate rules written in the contracts:
// each request and event accepts a well-formed value and names every field it
// refuses.
package proto_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// violations returns the sorted, distinct field paths that msg violates.
func violations(t *testing.T, msg proto.Message) []string {
	t.Helper()
	err := protovalidate.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("validate %T: %v", msg, err)
	}
	var fields []string
	for _, v := range verr.Violations {
		fields = append(fields, protovalidate.FieldPathString(v.Proto.GetField()))
	}
	slices.Sort(fields)
	return slices.Compact(fields) // an empty id breaks both min_len and pattern
}

func TestRules(t *testing.T) {
	now := timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	goodItem := &auctionv1.Item{Id: "item-1", Name: "Lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
		PriceCents: 1999, State: auctionv1.State_STATE_GOOD, AgeMonths: 12, CreatedAt: now}
	limit := func(n uint32) *uint32 { return &n }
	tests := []struct {
		name string
		msg  proto.Message
		want []string
	}{
		{"add item ok, id optional", &auctionv1.AddItemRequest{Name: "Lamp", Category: auctionv1.Category_CATEGORY_MOTOR,
			PriceCents: 1, State: auctionv1.State_STATE_NEW}, nil},
		{"add item: every bad field named", &auctionv1.AddItemRequest{Id: "bad id", Name: "",
			Category: auctionv1.Category(99), PriceCents: -5, AgeMonths: 20000},
			[]string{"age_months", "category", "id", "name", "price_cents", "state"}},
		{"buy ok without date", &auctionv1.BuyItemRequest{ClientId: "c-1", ItemId: "item-1", PriceCents: 10}, nil},
		{"buy: missing ids, zero price", &auctionv1.BuyItemRequest{},
			[]string{"client_id", "item_id", "price_cents"}},
		{"sell at a loss ok", &auctionv1.SellItemRequest{ClientId: "c", ItemId: "i", PriceCents: 10, ProfitCents: -3}, nil},
		{"pawn: limit and tax", &auctionv1.PawnItemRequest{ClientId: "c", ItemId: "i", PriceCents: 10, TaxCents: -1, LimitDays: 0},
			[]string{"limit_days", "tax_cents"}},
		{"get: id required", &auctionv1.GetItemRequest{}, []string{"id"}},
		{"list: a filter is required", &auctionv1.ListItemsRequest{}, []string{"filter"}},
		{"list by name ok", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Name{Name: "Lamp"}}, nil},
		{"list: limit 1..100", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_State{State: auctionv1.State_STATE_BAD},
			Limit: limit(101)}, []string{"limit"}},
		{"list: limit 0 refused when given", &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Category{
			Category: auctionv1.Category_CATEGORY_UNSPECIFIED}, Limit: limit(0)}, []string{"category", "limit"}},
		{"item event ok", &eventsv1.ItemAdded{Envelope: &eventsv1.Envelope{EventId: "0b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10",
			AcceptedAt: now, RequestId: "r1"}, Item: goodItem}, nil},
		{"event: envelope and payload required", &eventsv1.ItemBought{}, []string{"buy", "envelope"}},
		{"event: nested rules apply", &eventsv1.ItemSold{Envelope: &eventsv1.Envelope{EventId: "nope", AcceptedAt: now, RequestId: "r"},
			Sell: &auctionv1.Sell{ClientId: "c", ItemId: "i", PriceCents: 1}},
			[]string{"envelope.event_id", "sell.date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(t, tt.msg); !slices.Equal(got, tt.want) {
				t.Fatalf("violations: got %q, want %q", got, tt.want)
			}
		})
	}
}

// check runs one value through every message that carries it and wants the
// same verdict from each: the rule set is one, whatever the message.
func check(t *testing.T, value string, ok bool, carriers map[string]func() proto.Message) {
	t.Helper()
	for name, build := range carriers {
		got := violations(t, build())
		if ok && len(got) != 0 {
			t.Errorf("%s: %q refused (%q), want accepted", name, value, got)
		}
		if !ok && len(got) == 0 {
			t.Errorf("%s: %q accepted, want refused", name, value)
		}
	}
}

// Valid messages of every kind, for the tests below to spoil one field of.
func validItem() *auctionv1.Item {
	return &auctionv1.Item{Id: "item-1", Name: "Lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
		PriceCents: 1999, State: auctionv1.State_STATE_GOOD, CreatedAt: timestamppb.Now()}
}

func validEnvelope() *eventsv1.Envelope {
	return &eventsv1.Envelope{EventId: "0b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10", AcceptedAt: timestamppb.Now(), RequestId: "r1"}
}

func validAddItem() *auctionv1.AddItemRequest {
	return &auctionv1.AddItemRequest{Id: "item-1", Name: "Lamp", Category: auctionv1.Category_CATEGORY_MOTOR,
		PriceCents: 1, State: auctionv1.State_STATE_NEW}
}

func validBuy() *auctionv1.BuyItemRequest {
	return &auctionv1.BuyItemRequest{ClientId: "c-1", ItemId: "item-1", PriceCents: 10}
}

func validSell() *auctionv1.SellItemRequest {
	return &auctionv1.SellItemRequest{ClientId: "c-1", ItemId: "item-1", PriceCents: 10}
}

func validPawn() *auctionv1.PawnItemRequest {
	return &auctionv1.PawnItemRequest{ClientId: "c-1", ItemId: "item-1", PriceCents: 10, LimitDays: 30}
}

func validBuyRecord() *auctionv1.Buy {
	return &auctionv1.Buy{ClientId: "c-1", ItemId: "item-1", PriceCents: 10, Date: timestamppb.Now()}
}

func validSellRecord() *auctionv1.Sell {
	return &auctionv1.Sell{ClientId: "c-1", ItemId: "item-1", PriceCents: 10, Date: timestamppb.Now()}
}

func validPawnRecord() *auctionv1.Pawn {
	return &auctionv1.Pawn{ClientId: "c-1", ItemId: "item-1", PriceCents: 10, Date: timestamppb.Now(), LimitDays: 30}
}

func firstPage() *clusterv1.Page { return &clusterv1.Page{Limit: 10} }

func TestEveryCarrierIsValidAsBuilt(t *testing.T) {
	for _, m := range []proto.Message{validItem(), validEnvelope(), validAddItem(), validBuy(), validSell(), validPawn(),
		validBuyRecord(), validSellRecord(), validPawnRecord(), firstPage()} {
		if got := violations(t, m); len(got) != 0 {
			t.Fatalf("%T: %q", m, got)
		}
	}
}

func TestTimestampsArePlausible(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		ts   *timestamppb.Timestamp
		ok   bool
	}{
		{"now", timestamppb.New(now), true},
		{"1970-01-01", &timestamppb.Timestamp{}, true},
		{"in 23h", timestamppb.New(now.Add(23 * time.Hour)), true},
		{"in 25h", timestamppb.New(now.Add(25 * time.Hour)), false},
		{"1969-12-31T23:59:59", &timestamppb.Timestamp{Seconds: -1}, false},
		{"year 9999", timestamppb.New(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), false},
		{"year 1", timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), false},
		{"seconds 1e12", &timestamppb.Timestamp{Seconds: 1e12}, false},
		{"seconds -1e12", &timestamppb.Timestamp{Seconds: -1e12}, false},
		{"seconds int64 max", &timestamppb.Timestamp{Seconds: math.MaxInt64}, false},
		{"seconds int64 min", &timestamppb.Timestamp{Seconds: math.MinInt64}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.name, c.ok, map[string]func() proto.Message{
				"Item.created_at": func() proto.Message { m := validItem(); m.CreatedAt = c.ts; return m },
				"Envelope.accepted_at": func() proto.Message {
					m := validEnvelope()
					m.AcceptedAt = c.ts
					return m
				},
				"Buy.date":             func() proto.Message { m := validBuyRecord(); m.Date = c.ts; return m },
				"Sell.date":            func() proto.Message { m := validSellRecord(); m.Date = c.ts; return m },
				"Pawn.date":            func() proto.Message { m := validPawnRecord(); m.Date = c.ts; return m },
				"BuyItemRequest.date":  func() proto.Message { m := validBuy(); m.Date = c.ts; return m },
				"SellItemRequest.date": func() proto.Message { m := validSell(); m.Date = c.ts; return m },
				"PawnItemRequest.date": func() proto.Message { m := validPawn(); m.Date = c.ts; return m },
				"AuditRecord.time": func() proto.Message {
					return &eventsv1.AuditRecord{Route: "POST /item/add", Protocol: "rest", Status: "ok", HttpStatus: 202,
						Latency: durationpb.New(time.Millisecond), RequestId: "r1", Time: c.ts}
				},
			})
		})
	}
	// An optional request date left unset is the dispatcher's clock: allowed.
	for _, m := range []proto.Message{validBuy(), validSell(), validPawn()} {
		if got := violations(t, m); len(got) != 0 {
			t.Errorf("%T without a date: %q", m, got)
		}
	}
}

func TestMoneyIsBounded(t *testing.T) {
	const lim = 1_000_000_000_000
	price := func(v int64) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Item":            func() proto.Message { m := validItem(); m.PriceCents = v; return m },
			"AddItemRequest":  func() proto.Message { m := validAddItem(); m.PriceCents = v; return m },
			"Buy":             func() proto.Message { m := validBuyRecord(); m.PriceCents = v; return m },
			"Sell":            func() proto.Message { m := validSellRecord(); m.PriceCents = v; return m },
			"Pawn":            func() proto.Message { m := validPawnRecord(); m.PriceCents = v; return m },
			"BuyItemRequest":  func() proto.Message { m := validBuy(); m.PriceCents = v; return m },
			"SellItemRequest": func() proto.Message { m := validSell(); m.PriceCents = v; return m },
			"PawnItemRequest": func() proto.Message { m := validPawn(); m.PriceCents = v; return m },
		}
	}
	tax := func(v int64) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Pawn":            func() proto.Message { m := validPawnRecord(); m.TaxCents = v; return m },
			"PawnItemRequest": func() proto.Message { m := validPawn(); m.TaxCents = v; return m },
		}
	}
	profit := func(v int64) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Sell":            func() proto.Message { m := validSellRecord(); m.ProfitCents = v; return m },
			"SellItemRequest": func() proto.Message { m := validSell(); m.ProfitCents = v; return m },
		}
	}
	for _, c := range []struct {
		field    string
		v        int64
		ok       bool
		carriers func(int64) map[string]func() proto.Message
	}{
		{"price", 1, true, price}, {"price", lim, true, price}, {"price", lim + 1, false, price},
		{"price", math.MaxInt64, false, price}, {"price", 0, false, price}, {"price", math.MinInt64, false, price},
		{"tax", 0, true, tax}, {"tax", lim, true, tax}, {"tax", lim + 1, false, tax}, {"tax", -1, false, tax},
		{"tax", math.MaxInt64, false, tax},
		{"profit", 0, true, profit}, {"profit", -lim, true, profit}, {"profit", lim, true, profit},
		{"profit", -lim - 1, false, profit}, {"profit", lim + 1, false, profit},
		{"profit", math.MinInt64, false, profit}, {"profit", math.MaxInt64, false, profit},
	} {
		check(t, fmt.Sprintf("%s %d", c.field, c.v), c.ok, c.carriers(c.v))
	}
}

func TestNamesHaveNoControlCharacters(t *testing.T) {
	carriers := func(v string) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Item":           func() proto.Message { m := validItem(); m.Name = v; return m },
			"AddItemRequest": func() proto.Message { m := validAddItem(); m.Name = v; return m },
			"ListItemsRequest": func() proto.Message {
				return &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Name{Name: v}}
			},
			"FetchItemsByNameRequest": func() proto.Message {
				return &clusterv1.FetchItemsByNameRequest{Name: v, Page: firstPage()}
			},
		}
	}
	for v, ok := range map[string]bool{
		"Lamp": true, "Brass lamp, 1920s (working)": true, "Lampe à pétrole": true, "古い時計": true,
		"ساعت": true, "👨\u200d👩\u200d👧 photo": true, "क्\u200dष": true, "tab\tnot": false,
		"nul\x00": false, "esc \x1b[31mred": false, "del\x7f": false, "c1 \u0085": false, "csi \u009b": false,
		"line\nbreak": false, "cr\r": false, "ls\u2028": false, "ps\u2029": false,
		"zero\u200bwidth": false, "word\u2060joiner": false, "\ufeffbom": false, "soft\u00adhyphen": false,
		"bidi \u202egnp.exe": false, "isolate \u2066x\u2069": false, "tag \U000E0041": false,
	} {
		check(t, v, ok, carriers(v))
	}
}

func TestIDsUseASafeCharset(t *testing.T) {
	itemCarriers := func(v string) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Item.id":                 func() proto.Message { m := validItem(); m.Id = v; return m },
			"AddItemRequest.id":       func() proto.Message { m := validAddItem(); m.Id = v; return m },
			"GetItemRequest.id":       func() proto.Message { return &auctionv1.GetItemRequest{Id: v} },
			"FetchItemRequest.id":     func() proto.Message { return &clusterv1.FetchItemRequest{Id: v} },
			"Buy.item_id":             func() proto.Message { m := validBuyRecord(); m.ItemId = v; return m },
			"Sell.item_id":            func() proto.Message { m := validSellRecord(); m.ItemId = v; return m },
			"Pawn.item_id":            func() proto.Message { m := validPawnRecord(); m.ItemId = v; return m },
			"BuyItemRequest.item_id":  func() proto.Message { m := validBuy(); m.ItemId = v; return m },
			"SellItemRequest.item_id": func() proto.Message { m := validSell(); m.ItemId = v; return m },
			"PawnItemRequest.item_id": func() proto.Message { m := validPawn(); m.ItemId = v; return m },
			"JoinRequest.worker_id": func() proto.Message {
				return &clusterv1.JoinRequest{WorkerId: v, Address: "http://127.0.0.1:1", ClusterToken: "t"}
			},
			"HeartbeatRequest.worker_id": func() proto.Message { return &clusterv1.HeartbeatRequest{WorkerId: v, ClusterToken: "t"} },
			"LeaveRequest.worker_id":     func() proto.Message { return &clusterv1.LeaveRequest{WorkerId: v, ClusterToken: "t"} },
		}
	}
	clientCarriers := func(v string) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Buy.client_id":             func() proto.Message { m := validBuyRecord(); m.ClientId = v; return m },
			"Sell.client_id":            func() proto.Message { m := validSellRecord(); m.ClientId = v; return m },
			"Pawn.client_id":            func() proto.Message { m := validPawnRecord(); m.ClientId = v; return m },
			"BuyItemRequest.client_id":  func() proto.Message { m := validBuy(); m.ClientId = v; return m },
			"SellItemRequest.client_id": func() proto.Message { m := validSell(); m.ClientId = v; return m },
			"PawnItemRequest.client_id": func() proto.Message { m := validPawn(); m.ClientId = v; return m },
		}
	}
	long := strings.Repeat("a", 64)
	refusedByBoth := []string{"", "..", ".", ".a", "a.", "a/b", "a..b", "../etc/passwd", "a b", "a\x00", "a\x1b",
		"a\\b", "é", "a\u200bb", long + "a", "a%2fb", "a:b"}
	for _, v := range refusedByBoth {
		carriers := itemCarriers(v)
		if v == "" {
			delete(carriers, "AddItemRequest.id") // optional: empty means "assign one"
		}
		check(t, v, false, carriers)
		check(t, v, false, clientCarriers(v))
	}
	for _, v := range []string{"lamp-1", "a.b", "a", "0b9e7c4e-2f58-4f7e-9a43-7f1d2c1e5a10", "item_7.v2", long, "-"} {
		check(t, v, true, itemCarriers(v))
		check(t, v, true, clientCarriers(v))
	}
	// '@' joins the parts of a client id only.
	for _, v := range []string{"eve@example.com", "a@b", "first.last@shop.example"} {
		check(t, v, true, clientCarriers(v))
		check(t, v, false, itemCarriers(v))
	}
	for _, v := range []string{"@", "eve@", "@eve", "eve@@example.com", "eve@.example.com", "eve.@example.com", "mallory."} {
		check(t, v, false, clientCarriers(v))
	}
}

func TestRequestIDsAndPageTokens(t *testing.T) {
	env := func(v string) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"Envelope.request_id": func() proto.Message { m := validEnvelope(); m.RequestId = v; return m },
		}
	}
	// The dispatcher accepts X-Request-Id values of these characters
	// (internal/requestid): every one it stamps must pass.
	for _, v := range []string{"r1", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "trace:abc.def_1-2", strings.Repeat("x", 128)} {
		check(t, v, true, env(v))
	}
	for _, v := range []string{"", "a b", "a/b", "a\x00", "a\n", strings.Repeat("x", 129)} {
		check(t, v, false, env(v))
	}

	tok := func(v string) map[string]func() proto.Message {
		return map[string]func() proto.Message{
			"ListItemsRequest.page_token": func() proto.Message {
				return &auctionv1.ListItemsRequest{Filter: &auctionv1.ListItemsRequest_Name{Name: "Lamp"}, PageToken: v}
			},
			"Page.token": func() proto.Message { return &clusterv1.Page{Limit: 10, Token: v} },
		}
	}
	for _, v := range []string{"", "djE6aXRlbS0x", "djE6YS5i_-", strings.Repeat("A", 512)} {
		check(t, v, true, tok(v))
	}
	for _, v := range []string{"djE6aXRlbS0x==", "a+b/c", "a b", "a\x00", "a.b", strings.Repeat("A", 513)} {
		check(t, v, false, tok(v))
	}
}
