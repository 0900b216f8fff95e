package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// brokerFault makes the embedded broker refuse every produce request with a
// retriable error while it is on; consumers are unaffected.
type brokerFault struct{ on atomic.Bool }

func injectBrokerFault(t testing.TB, s *stack.Stack) *brokerFault {
	t.Helper()
	k := s.EmbeddedKafka()
	if k == nil {
		t.Fatal("fault injection needs the embedded broker, which startStackWith always starts")
	}
	f := &brokerFault{}
	cluster := k.Cluster()
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !f.on.Load() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = pr.Version
		for _, rt := range pr.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic, t.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode = kerr.NotEnoughReplicas.Code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})
	return f
}

func mongoCount(t testing.TB, s *stack.Stack, coll string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	n, err := c.Database("auction").Collection(coll).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mongoBuys counts the buys stored in the items' documents (each item's
// history is inside its document, one entry per buy event).
func mongoBuys(t testing.TB, s *stack.Stack) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	cur, err := c.Database("auction").Collection("items").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		if buys, ok := cur.Current.Lookup("buys").DocumentOK(); ok {
			elems, err := buys.Elements()
			if err != nil {
				t.Fatal(err)
			}
			n += len(elems)
		}
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// readTopic returns every record of topic from the beginning to the end.
func readTopic(t testing.TB, s *stack.Stack, topic string) []*kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": strings.Join(s.Brokers(), ","), "group.id": "test-reader-" + topic,
		"enable.auto.commit": false, "auto.offset.reset": "earliest", "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	md, err := c.GetMetadata(&topic, false, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var parts []kafka.TopicPartition
	remaining := map[int32]int64{}
	for _, p := range md.Topics[topic].Partitions {
		_, high, err := c.QueryWatermarkOffsets(topic, p.ID, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if high > 0 {
			remaining[p.ID] = high
			parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: kafka.OffsetBeginning})
		}
	}
	if err := c.Assign(parts); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(remaining) > 0 && time.Now().Before(deadline) {
		m, err := c.ReadMessage(200 * time.Millisecond)
		if err != nil {
			continue
		}
		out = append(out, m)
		if int64(m.TopicPartition.Offset)+1 >= remaining[m.TopicPartition.Partition] {
			delete(remaining, m.TopicPartition.Partition)
		}
	}
	if len(remaining) > 0 {
		t.Fatalf("could not read %s to its end", topic)
	}
	return out
}

// TestBrokerOutageBuffersEveryWriteAndReplaysInOrder is fault scenario 1:
// the broker refuses produce requests while 500 writes arrive; each is
// acknowledged as buffered; once the broker is back all 500 are stored once,
// and each item's events reached the broker in order.
func TestBrokerOutageBuffersEveryWriteAndReplaysInOrder(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 1, PublishTimeout: 150 * time.Millisecond, ReplayInterval: 200 * time.Millisecond})
	fault := injectBrokerFault(t, s)
	fault.on.Store(true)

	const items, buysPerItem = 100, 4
	client, ctx := api(s), context.Background()
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 25)
	for i := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("outage-%03d", i)
			note := func(status string) {
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
			if i == 0 {
				// One item's writes go through REST: 202 and the status in JSON.
				code, body := call(t, s, "POST", "/item/add", `{"id":"`+id+`","name":"outage","category":"CATEGORY_MOTOR","priceCents":100,"state":"STATE_NEW"}`)
				note(fmt.Sprintf("%d %v", code, body["writeStatus"]))
				for b := 1; b <= buysPerItem; b++ {
					code, body := call(t, s, "POST", "/item/action/buy", fmt.Sprintf(`{"clientId":"c","itemId":"%s","priceCents":%d}`, id, b))
					note(fmt.Sprintf("%d %v", code, body["writeStatus"]))
				}
				return
			}
			res, err := client.AddItem(ctx, connect.NewRequest(&auctionv1.AddItemRequest{Id: id, Name: "outage",
				Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 100, State: auctionv1.State_STATE_NEW}))
			note(connectStatus(res, err))
			for b := 1; b <= buysPerItem; b++ {
				res, err := client.BuyItem(ctx, connect.NewRequest(&auctionv1.BuyItemRequest{ClientId: "c", ItemId: id, PriceCents: int64(b)}))
				note(connectStatus(res, err))
			}
		}()
	}
	wg.Wait()
	if statuses["202 WRITE_STATUS_BUFFERED"] != 1+buysPerItem || statuses["ok WRITE_STATUS_BUFFERED"] != (items-1)*(1+buysPerItem) {
		t.Fatalf("during the outage every write must be acknowledged as buffered; got %v", statuses)
	}

	fault.on.Store(false)
	eventually(t, 90*time.Second, func() error {
		if n, m := mongoCount(t, s, "items"), mongoBuys(t, s); n != items || m != items*buysPerItem {
			return fmt.Errorf("stored %d items and %d buys, want %d and %d", n, m, items, items*buysPerItem)
		}
		return nil
	})
	// Nothing more arrives later: no duplicate documents.
	time.Sleep(500 * time.Millisecond)
	if n, m := mongoCount(t, s, "items"), mongoBuys(t, s); n != items || m != items*buysPerItem {
		t.Fatalf("after settling: %d items, %d buys", n, m)
	}

	// Per-item order on the broker: the first copy of each event, per key,
	// carries prices 1, 2, 3, 4 (replays may add later copies, which the
	// workers' idempotent writes absorb).
	seen := map[string]bool{}
	prices := map[string][]int64{}
	for _, m := range readTopic(t, s, defaultTopics.BuyActions) {
		var ev eventsv1.ItemBought
		if err := proto.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if seen[ev.GetEnvelope().GetEventId()] {
			continue
		}
		seen[ev.GetEnvelope().GetEventId()] = true
		prices[string(m.Key)] = append(prices[string(m.Key)], ev.GetBuy().GetPriceCents())
	}
	for key, p := range prices {
		if !sort.SliceIsSorted(p, func(i, j int) bool { return p[i] < p[j] }) || len(p) != buysPerItem {
			t.Errorf("item %s: buys reached the broker as %v, want 1..%d in order", key, p, buysPerItem)
		}
	}
}

// TestBrokerAndRedisDownRefusesWrites is fault scenario 4: with both the
// broker and the buffer gone a write gets 503, and every write acknowledged
// before and after is stored.
func TestBrokerAndRedisDownRefusesWrites(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 1, PublishTimeout: 150 * time.Millisecond, ReplayInterval: 200 * time.Millisecond})
	fault := injectBrokerFault(t, s)
	r := s.EmbeddedRedis()
	if r == nil {
		t.Fatal("this test needs the embedded Redis, which startStackWith always starts")
	}
	client := api(s)
	add := func(id string) error {
		_, err := client.AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Id: id, Name: "down",
			Category: auctionv1.Category_CATEGORY_READING, PriceCents: 1, State: auctionv1.State_STATE_NEW}))
		if err != nil {
			t.Logf("add %s: %v", id, err)
		}
		return err
	}
	var acked []string
	for i := range 10 {
		if add(fmt.Sprintf("before-%d", i)) == nil {
			acked = append(acked, fmt.Sprintf("before-%d", i))
		}
	}
	fault.on.Store(true)
	redisAddr := r.Miniredis().Addr()
	r.Miniredis().Close()
	for i := range 10 {
		code, body := call(t, s, "POST", "/item/add", fmt.Sprintf(`{"id":"during-%d","name":"down","category":"CATEGORY_READING","priceCents":1,"state":"STATE_NEW"}`, i))
		if code != http.StatusServiceUnavailable {
			t.Fatalf("write with broker and Redis down: %d %v, want 503", code, body)
		}
		if msg, _ := body["message"].(string); !strings.Contains(msg, "not accepted") {
			t.Errorf("503 message does not say the write was refused: %q", msg)
		}
		err := add(fmt.Sprintf("during-connect-%d", i))
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("Connect write with broker and Redis down: %v, want unavailable", err)
		}
		if msg := err.(*connect.Error).Message(); !strings.Contains(msg, "not accepted") {
			t.Errorf("unavailable message does not say the write was refused: %q", msg)
		}
	}
	if err := r.Miniredis().StartAddr(redisAddr); err != nil { // same address, same data
		t.Fatal(err)
	}
	fault.on.Store(false)
	// Recovery takes a moment (the Redis client redials, the producer's
	// retries drain); a client retrying a refused write gets through.
	for i := range 10 {
		id := fmt.Sprintf("after-%d", i)
		eventually(t, 15*time.Second, func() error {
			if add(id) != nil {
				return fmt.Errorf("write %s still refused after recovery", id)
			}
			return nil
		})
		acked = append(acked, id)
	}
	for _, id := range acked {
		eventually(t, 60*time.Second, func() error {
			if _, err := getItem(s, id); err != nil {
				return fmt.Errorf("acknowledged item %s is missing: %w", id, err)
			}
			return nil
		})
	}
}

// TestDispatcherRestart is fault scenario 3: after a dispatcher restart the
// workers notice and join again within a few heartbeat intervals.
func TestDispatcherRestart(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 2})
	added, err := api(s).AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Name: "restart",
		Category: auctionv1.Category_CATEGORY_CLOTHING, PriceCents: 3, State: auctionv1.State_STATE_GOOD}))
	if err != nil {
		t.Fatal(err)
	}
	id := added.Msg.GetItemId()
	eventually(t, 30*time.Second, func() error {
		_, err := getItem(s, id)
		return err
	})
	if err := s.RestartDispatcher(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 10*time.Second, func() error {
		code, body := call(t, s, "GET", "/readyz", "")
		if code != http.StatusOK {
			return fmt.Errorf("readyz %d %v", code, body)
		}
		return nil
	})
	t.Logf("both workers joined again %s after the restart (heartbeat interval 200ms)", time.Since(start))
	if _, err := getItem(s, id); err != nil {
		t.Fatalf("read after restart: %v", err)
	}
}

// TestPoisonEventGoesToTheDeadLetterTopic: a record a worker cannot decode
// is parked on auction.items.dlq with the reason in a header, and ingestion goes on.
func TestPoisonEventGoesToTheDeadLetterTopic(t *testing.T) {
	s := startStack(t, 1)
	produce(t, s, defaultTopics.Items, []byte("poison"), []byte("this is not protobuf \xff\xff"))
	if _, err := api(s).AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Id: "after-poison", Name: "p",
		Category: auctionv1.Category_CATEGORY_READING, PriceCents: 1, State: auctionv1.State_STATE_NEW})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if _, err := getItem(s, "after-poison"); err != nil {
			return fmt.Errorf("ingest stopped behind the poison record: %w", err)
		}
		return nil
	})
	var reason string
	eventually(t, 10*time.Second, func() error {
		for _, m := range readTopic(t, s, topics.DeadLetter(defaultTopics.Items)) {
			for _, h := range m.Headers {
				if h.Key == "dlq-reason" && string(m.Key) == "poison" {
					reason = string(h.Value)
				}
			}
		}
		if reason == "" {
			return fmt.Errorf("the poison record is not on %s", topics.DeadLetter(defaultTopics.Items))
		}
		return nil
	})
	if !strings.Contains(reason, "decode") {
		t.Errorf("dead-letter reason %q does not say what went wrong", reason)
	}
}

// connectStatus sums up a write's answer over Connect: "ok" or the error
// code, then the write status.
func connectStatus[T any, P interface {
	*T
	GetWriteStatus() auctionv1.WriteStatus
}](res *connect.Response[T], err error) string {
	if err != nil {
		return fmt.Sprintf("%v %v", connect.CodeOf(err), err)
	}
	return fmt.Sprintf("ok %v", P(res.Msg).GetWriteStatus())
}
