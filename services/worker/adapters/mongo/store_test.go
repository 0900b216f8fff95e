package mongo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/event"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func openStore(t testing.TB) *mongo.Store {
	t.Helper()
	return openStoreWith(t, nil)
}

// openStoreWith opens a store on a fresh embedded MongoDB, its client
// reporting its commands to monitor (nil: none).
func openStoreWith(t testing.TB, monitor *event.CommandMonitor) *mongo.Store {
	t.Helper()
	ctx := context.Background()
	m, err := embedded.StartMongo(ctx, embedded.MongoConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	s, err := mongo.Connect(ctx, m.URI(), "auction", mongo.WithMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	// Twice: a restarted worker ensures indexes that already exist.
	for range 2 {
		if err := s.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// commandLog records the commands a client sends, as describe puts them
// (an empty description is left out).
type commandLog struct {
	describe func(*event.CommandStartedEvent) string
	mu       sync.Mutex
	cmds     []string
}

func (l *commandLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if d := l.describe(e); d != "" {
			l.mu.Lock()
			l.cmds = append(l.cmds, d)
			l.mu.Unlock()
		}
	}}
}

// during runs f and returns the commands sent meanwhile.
func (l *commandLog) during(t testing.TB, f func() error) []string {
	t.Helper()
	l.mu.Lock()
	l.cmds = nil
	l.mu.Unlock()
	if err := f(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.cmds...)
}

func ts(sec int64) *timestamppb.Timestamp { return timestamppb.New(time.Unix(sec, 0)) }

func envelope(id string) *eventsv1.Envelope {
	return &eventsv1.Envelope{EventId: id, AcceptedAt: ts(100), RequestId: "r"}
}

func clock(name string) *auctionv1.Item {
	return &auctionv1.Item{Id: name, Name: "Clock", Category: auctionv1.Category_CATEGORY_COLLECTION, PriceCents: 500,
		State: auctionv1.State_STATE_GOOD, AgeMonths: 3, CreatedAt: ts(1000)}
}

func added(ev string, item *auctionv1.Item) app.Document {
	return app.Document{ID: ev, ItemID: item.GetId(), Msg: &eventsv1.ItemAdded{Envelope: envelope(ev), Item: item}}
}

func buy(ev, item string, at int64) app.Document {
	return app.Document{ID: ev, ItemID: item, Msg: &eventsv1.ItemBought{Envelope: envelope(ev),
		Buy: &auctionv1.Buy{ClientId: "c", ItemId: item, PriceCents: 10, Date: ts(at)}}}
}

func TestSaveIsIdempotentAndHistoryIsEmbedded(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	item := clock("i1")
	// The same events delivered twice, the second time in one batch with a new one.
	for _, batch := range [][]app.Document{{added("e0", item)}, {added("e0", item)}} {
		if err := s.Save(ctx, app.KindItem, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(ctx, app.KindBuy, []app.Document{buy("e2", "i1", 2000), buy("e1", "i1", 1500)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, app.KindBuy, []app.Document{buy("e1", "i1", 1500)}); err != nil {
		t.Fatal(err)
	}
	sell := app.Document{ID: "e3", ItemID: "i1", Msg: &eventsv1.ItemSold{Envelope: envelope("e3"),
		Sell: &auctionv1.Sell{ClientId: "c", ItemId: "i1", PriceCents: 20, Date: ts(2500)}}}
	pawn := app.Document{ID: "e4", ItemID: "i1", Msg: &eventsv1.ItemPawned{Envelope: envelope("e4"),
		Pawn: &auctionv1.Pawn{ClientId: "c", ItemId: "i1", PriceCents: 30, LimitDays: 7, Date: ts(3000)}}}
	if err := s.Save(ctx, app.KindSell, []app.Document{sell}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, app.KindPawn, []app.Document{pawn}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Item(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetItem(), item) {
		t.Errorf("item round trip:\n got %v\nwant %v", got.GetItem(), item)
	}
	if len(got.GetBuys()) != 2 {
		t.Fatalf("redelivered buy stored twice or lost: %d buys", len(got.GetBuys()))
	}
	if got.GetBuys()[0].GetDate().GetSeconds() != 1500 {
		t.Errorf("history not oldest first: %v", got.GetBuys())
	}
	if len(got.GetSells()) != 1 || len(got.GetPawns()) != 1 || got.GetPawns()[0].GetLimitDays() != 7 {
		t.Errorf("sells %v pawns %v", got.GetSells(), got.GetPawns())
	}
	if _, err := s.Item(ctx, "missing"); err != app.ErrNotFound {
		t.Errorf("missing item: %v, want ErrNotFound", err)
	}
}

// TestActionsBeforeTheirItem: the topics are consumed independently, so an
// action can be stored before its item: the item is not found until its
// ItemAdded arrives, then it comes with the action.
func TestActionsBeforeTheirItem(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.Save(ctx, app.KindBuy, []app.Document{buy("e1", "early", 1500)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Item(ctx, "early"); err != app.ErrNotFound {
		t.Fatalf("an item whose ItemAdded is not stored: %v, want ErrNotFound", err)
	}
	if got, err := s.Items(ctx, app.Filter{Category: auctionv1.Category_CATEGORY_COLLECTION}, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("listing: %v %v, want nothing", got, err)
	}
	if err := s.Save(ctx, app.KindItem, []app.Document{added("e0", clock("early"))}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Item(ctx, "early")
	if err != nil || len(got.GetBuys()) != 1 {
		t.Fatalf("after its ItemAdded: %v %v", got, err)
	}
}

// TestFetchesSendOneCommand: a fetch by id is one find of the `_id` index
// and a page of a listing one find, histories included (counted with the
// driver's command monitoring); a listing's find carries the caller's
// deadline as maxTimeMS, so the server stops it when the caller gave up.
func TestFetchesSendOneCommand(t *testing.T) {
	cmds := &commandLog{describe: func(e *event.CommandStartedEvent) string {
		cmd := e.CommandName + " " + e.Command.Lookup("filter").String()
		if v, err := e.Command.LookupErr("maxTimeMS"); err == nil {
			cmd += fmt.Sprintf(" maxTimeMS=%d", v.AsInt64())
		}
		return cmd
	}}
	s := openStoreWith(t, cmds.monitor())
	ctx := context.Background()
	var items, buys []app.Document
	for i := range 30 {
		id := fmt.Sprintf("i%02d", i)
		items = append(items, added(fmt.Sprintf("a%02d", i), clock(id)))
		buys = append(buys, buy(fmt.Sprintf("b%02d", i), id, int64(2000+i)))
	}
	if err := s.Save(ctx, app.KindItem, items); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, app.KindBuy, buys); err != nil {
		t.Fatal(err)
	}
	count := func(f func() error) []string {
		t.Helper()
		return cmds.during(t, f)
	}
	got := count(func() error {
		it, err := s.Item(ctx, "i07")
		if err == nil && len(it.GetBuys()) != 1 {
			err = fmt.Errorf("buys %v", it.GetBuys())
		}
		return err
	})
	if len(got) != 1 || !strings.HasPrefix(got[0], `find {"_id": "i07"}`) {
		t.Fatalf("fetch by id sent %q, want one find by _id", got)
	}
	for _, f := range []app.Filter{{Name: "Clock"}, {Category: auctionv1.Category_CATEGORY_COLLECTION}, {State: auctionv1.State_STATE_GOOD}} {
		got = count(func() error {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			page, err := s.Items(lctx, f, "i03", 20)
			if err == nil && (len(page) != 20 || page[0].GetItem().GetId() != "i04" || len(page[0].GetBuys()) != 1) {
				err = fmt.Errorf("page of %d from %v", len(page), page[0].GetItem().GetId())
			}
			return err
		})
		if len(got) != 1 || !strings.HasPrefix(got[0], "find ") {
			t.Fatalf("a page by %v sent %q, want one find", f, got)
		}
		var ms int64
		if _, err := fmt.Sscanf(got[0][strings.LastIndex(got[0], " maxTimeMS=")+1:], "maxTimeMS=%d", &ms); err != nil || ms <= 0 || ms > 5000 {
			t.Fatalf("a page by %v sent %q, want maxTimeMS within the caller's 5 s", f, got)
		}
	}
}
func TestQueriesMatchValuesLiterally(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	var docs []app.Document
	for _, n := range []string{`{"$ne": null}`, "plain"} {
		docs = append(docs, app.Document{ID: "e-" + n, ItemID: n, Msg: &eventsv1.ItemAdded{Envelope: envelope("e-" + n),
			Item: &auctionv1.Item{Id: n, Name: n, Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 1, State: auctionv1.State_STATE_NEW, CreatedAt: ts(1)}}})
	}
	if err := s.Save(ctx, app.KindItem, docs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Items(ctx, app.Filter{Name: `{"$ne": null}`}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetItem().GetName() != `{"$ne": null}` {
		t.Fatalf("operator-looking name matched %d items: %v", len(got), got)
	}
	got, err = s.Items(ctx, app.Filter{Category: auctionv1.Category_CATEGORY_MOTOR}, "plain", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetItem().GetId() != `{"$ne": null}` {
		t.Fatalf("paging after an id: %v", got)
	}
}

// TestALargeBatchOfUpdatesCompletes: a batch of updates to existing
// documents larger than FerretDB v1's pool of 100 connections (it keeps one
// per matching update until the command returns) is written in commands
// small enough not to wait forever.
func TestALargeBatchOfUpdatesCompletes(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 300
	var items, buys []app.Document
	for i := range n {
		id := fmt.Sprintf("big-%03d", i)
		items = append(items, added(fmt.Sprintf("a%03d", i), clock(id)))
		buys = append(buys, buy(fmt.Sprintf("b%03d", i), id, int64(2000+i)))
	}
	if err := s.Save(ctx, app.KindItem, items); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, app.KindBuy, buys); err != nil {
		t.Fatalf("%d updates of existing documents in one Save: %v", n, err)
	}
	got, err := s.Item(ctx, "big-299")
	if err != nil || len(got.GetBuys()) != 1 {
		t.Fatalf("big-299: %v %v", got, err)
	}
}

// TestNewItemsAreInserted: ItemAdded events of new items are stored by one
// insert command; those whose item already has a document (a redelivery, a
// re-add, actions first) fall back to the upserts, and end as an upsert
// alone would have left them; those whose document this store's actions
// created go to the upserts without trying the insert.
func TestNewItemsAreInserted(t *testing.T) {
	cmds := &commandLog{describe: func(e *event.CommandStartedEvent) string {
		if e.CommandName == "insert" || e.CommandName == "update" {
			return e.CommandName
		}
		return ""
	}}
	s := openStoreWith(t, cmds.monitor())
	ctx := context.Background()
	sent := func(docs []app.Document) []string {
		t.Helper()
		return cmds.during(t, func() error { return s.Save(ctx, app.KindItem, docs) })
	}
	var first []app.Document
	for i := range 30 {
		first = append(first, added(fmt.Sprintf("a%02d", i), clock(fmt.Sprintf("i%02d", i))))
	}
	if got := sent(first); !slices.Equal(got, []string{"insert"}) {
		t.Fatalf("30 new items sent %v, want one insert", got)
	}
	// i00 has a buy before its re-add; i01 is redelivered; i30 is new.
	if err := s.Save(ctx, app.KindBuy, []app.Document{buy("b", "i00", 2000)}); err != nil {
		t.Fatal(err)
	}
	renamed := clock("i00")
	renamed.Name = "Watch"
	second := []app.Document{added("re", renamed), first[1], added("a30", clock("i30"))}
	if got := sent(second); !slices.Equal(got, []string{"insert", "update"}) {
		t.Fatalf("a re-add, a redelivery and a new item sent %v, want an insert then the upserts", got)
	}
	it, err := s.Item(ctx, "i00")
	if err != nil {
		t.Fatal(err)
	}
	if it.GetItem().GetName() != "Watch" || len(it.GetBuys()) != 1 {
		t.Fatalf("re-added item %v with %d buys, want the new name and its buy", it.GetItem(), len(it.GetBuys()))
	}
	for _, id := range []string{"i01", "i30"} {
		if it, err := s.Item(ctx, id); err != nil || it.GetItem().GetName() != "Clock" {
			t.Fatalf("item %s: %v, %v", id, it, err)
		}
	}
	// A buy created i40's document: its ItemAdded goes straight to the
	// upserts, without an insert bound to fail.
	if err := s.Save(ctx, app.KindBuy, []app.Document{buy("b40", "i40", 2000)}); err != nil {
		t.Fatal(err)
	}
	if got := sent([]app.Document{added("a40", clock("i40"))}); !slices.Equal(got, []string{"update"}) {
		t.Fatalf("the item of a document its buy created sent %v, want the upsert alone", got)
	}
	if it, err := s.Item(ctx, "i40"); err != nil || it.GetItem().GetName() != "Clock" || len(it.GetBuys()) != 1 {
		t.Fatalf("item i40: %v, %v", it, err)
	}
}
