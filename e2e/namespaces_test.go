package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/pawnshop/auction/services/devstack/stack/stacktest"
	redisadapter "github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestTwoClusterNamesShareOneRedis is issue 13's namespacing check: two
// dev stacks with different CLUSTER_NAMEs on one Redis (each with its own
// Kafka, MongoDB and S3) keep their item-id claims, fraud lists, write
// buffers and replay leases apart, and every key either writes is under its
// own name.
func TestTwoClusterNamesShareOneRedis(t *testing.T) {
	ctx := context.Background()
	shared, err := embedded.StartRedis(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shared.Close) // after both stacks (cleanups run last first)
	r := shared.Miniredis()
	names := []string{"shop-a", "shop-b"}
	start := func(name string) *stack.Stack {
		return stacktest.Start(t, stack.Config{Workers: 1, ClusterName: clustername.MustParse(name), RedisURL: envconfig.Secret(shared.URL()),
			FeedInterval: time.Hour, PublishTimeout: 150 * time.Millisecond, ReplayInterval: 200 * time.Millisecond})
	}
	a, b := start(names[0]), start(names[1])

	t.Run("item ids", func(t *testing.T) {
		// The same client-chosen id in both, with different bodies: each
		// stack's claim is its own.
		if st, body := call(t, a, http.MethodPost, "/item/add", addBody("same-id", "in-a")); st != http.StatusAccepted {
			t.Fatalf("add same-id in A: %d %v", st, body)
		}
		if st, body := call(t, b, http.MethodPost, "/item/add", addBody("same-id", "in-b")); st != http.StatusAccepted {
			t.Fatalf("add same-id in B (claimed in A only): %d %v, want 202", st, body)
		}
		if st, body := call(t, a, http.MethodPost, "/item/add", addBody("same-id", "in-b")); st != http.StatusConflict {
			t.Errorf("re-add same-id in A with B's body: %d %v, want 409 (A's claim holds)", st, body)
		}
		for s, want := range map[*stack.Stack]string{a: "in-a", b: "in-b"} {
			eventually(t, 20*time.Second, func() error {
				st, body := fetchItem(t, s, "same-id")
				if it := itemOf(body); st != http.StatusOK || it["name"] != want {
					return fmt.Errorf("fetch same-id: %d %v, want %s", st, body, want)
				}
				return nil
			})
		}
		for _, n := range names {
			if k := redisadapter.ClaimKey(clustername.MustParse(n), "same-id"); !strings.HasPrefix(k, n+":item-ids:") || r.HGet(k, "same-id") == "" {
				t.Errorf("no claim of same-id in %s", k)
			}
		}
	})

	t.Run("fraud lists", func(t *testing.T) {
		// A's list names xavier; B keeps the sample list (mallory, eve).
		putObject(t, a, "xavier\n")
		feedInForce(t, a, 1)
		for _, s := range []*stack.Stack{a, b} {
			if st, body := call(t, s, http.MethodPost, "/item/add", addBody("fraud-item", "ring")); st != http.StatusAccepted {
				t.Fatalf("add fraud-item: %d %v", st, body)
			}
		}
		buy := func(s *stack.Stack, client string) int {
			st, _ := call(t, s, http.MethodPost, "/item/action/buy", `{"clientId":"`+client+`","itemId":"fraud-item","priceCents":100}`)
			return st
		}
		eventually(t, 5*time.Second, func() error {
			if st := buy(a, "xavier"); st != http.StatusForbidden {
				return fmt.Errorf("xavier's buy in A: %d, want 403", st)
			}
			return nil
		})
		if st := buy(b, "xavier"); st != http.StatusAccepted {
			t.Errorf("xavier's buy in B (listed in A only): %d, want 202", st)
		}
		if st := buy(b, "mallory"); st != http.StatusForbidden {
			t.Errorf("mallory's buy in B (B's own list): %d, want 403", st)
		}
		if st := buy(a, "mallory"); st != http.StatusAccepted {
			t.Errorf("mallory's buy in A (no longer on A's list): %d, want 202", st)
		}
		setA, _ := r.Members("shop-a:fraud:clients")
		setB, _ := r.Members("shop-b:fraud:clients")
		if !slices.Equal(setA, []string{"xavier"}) || slices.Contains(setB, "xavier") || !slices.Contains(setB, "mallory") {
			t.Errorf("fraud sets: shop-a %v, shop-b %v", setA, setB)
		}
	})

	t.Run("write buffers and leases", func(t *testing.T) {
		faultA, faultB := injectBrokerFault(t, a), injectBrokerFault(t, b)
		defer faultA.on.Store(false)
		defer faultB.on.Store(false)
		// A's broker down: A buffers; B publishes.
		faultA.on.Store(true)
		const buffered = 10
		for i := range buffered {
			st, body := call(t, a, http.MethodPost, "/item/add", addBody(fmt.Sprintf("buffered-a-%d", i), "a"))
			if st != http.StatusAccepted || body["writeStatus"] != "WRITE_STATUS_BUFFERED" {
				t.Fatalf("add through A, broker down: %d %v, want 202 buffered", st, body)
			}
		}
		if st, body := call(t, b, http.MethodPost, "/item/add", addBody("published-b", "b")); st != http.StatusAccepted || body["writeStatus"] != "WRITE_STATUS_PUBLISHED" {
			t.Fatalf("add through B: %d %v, want 202 published", st, body)
		}
		// Several replay intervals: B's replayer sees an empty buffer of its
		// own, and A's events stay in A's.
		time.Sleep(1500 * time.Millisecond)
		if n := streamLen(t, r, "shop-a:wbuf:events"); n != buffered {
			t.Errorf("A's buffer holds %d events, want %d", n, buffered)
		}
		if n := streamLen(t, r, "shop-b:wbuf:events"); n != 0 {
			t.Errorf("B's buffer holds %d events, want 0", n)
		}
		if !r.Exists("shop-a:wbuf:lease") {
			t.Errorf("A's replayer holds no lease (shop-a:wbuf:lease) with its buffer full")
		}

		// B's broker down too: B buffers, and each stack's replayer holds
		// its own lease at once.
		faultB.on.Store(true)
		if st, body := call(t, b, http.MethodPost, "/item/add", addBody("buffered-b", "b")); st != http.StatusAccepted || body["writeStatus"] != "WRITE_STATUS_BUFFERED" {
			t.Fatalf("add through B, broker down: %d %v, want 202 buffered", st, body)
		}
		eventually(t, 5*time.Second, func() error {
			for _, n := range names {
				owner, err := r.Get(n + ":wbuf:lease")
				if err != nil {
					return fmt.Errorf("%s:wbuf:lease: %v", n, err)
				}
				if !strings.Contains(owner, "devstack-dispatcher") {
					return fmt.Errorf("%s:wbuf:lease held by %q", n, owner)
				}
			}
			return nil
		})
		keys := keysByName(t, r.Keys(), names)
		for _, n := range names {
			for _, kind := range []string{"item-ids", "fraud", "wbuf", "worker"} {
				if !slices.Contains(keys[n], kind) {
					t.Errorf("no %s:%s:* key; %s has %v", n, kind, n, keys[n])
				}
			}
		}
		t.Logf("key kinds by name while both buffer: %v", keys)

		// Both brokers back: each buffer is replayed into its own stack only.
		faultA.on.Store(false)
		faultB.on.Store(false)
		eventually(t, 30*time.Second, func() error {
			for i := range buffered {
				if st, _ := fetchItem(t, a, fmt.Sprintf("buffered-a-%d", i)); st != http.StatusOK {
					return fmt.Errorf("buffered-a-%d in A: %d", i, st)
				}
			}
			if st, _ := fetchItem(t, b, "buffered-b"); st != http.StatusOK {
				return fmt.Errorf("buffered-b in B: %d", st)
			}
			return nil
		})
		for i := range buffered {
			if st, _ := fetchItem(t, b, fmt.Sprintf("buffered-a-%d", i)); st != http.StatusNotFound {
				t.Errorf("A's buffered-a-%d in B: %d, want 404", i, st)
			}
		}
		if st, _ := fetchItem(t, a, "buffered-b"); st != http.StatusNotFound {
			t.Errorf("B's buffered-b in A: %d, want 404", st)
		}
		// B's broker never saw A's events: its topics are its own, and its
		// items topic holds B's items only.
		for s, n := range map[*stack.Stack]string{a: "shop-a", b: "shop-b"} {
			for _, topic := range brokerTopics(t, s) {
				if !strings.HasPrefix(topic, n+".") && !strings.HasPrefix(topic, "__") {
					t.Errorf("%s's broker has topic %s, outside its name", n, topic)
				}
			}
		}
		for _, m := range readTopic(t, b, topics.For(clustername.MustParse("shop-b")).Items) {
			if strings.HasPrefix(string(m.Key), "buffered-a-") {
				t.Errorf("B's broker holds A's event for %s", m.Key)
			}
		}
	})

	// Every key in the shared Redis is under one of the two names.
	for _, k := range r.Keys() {
		if !strings.HasPrefix(k, "shop-a:") && !strings.HasPrefix(k, "shop-b:") {
			t.Errorf("key %q is under neither name", k)
		}
	}
}

// streamLen is the length of the stream at key (0 if absent).
func streamLen(t testing.TB, r *miniredis.Miniredis, key string) int {
	t.Helper()
	if !r.Exists(key) {
		return 0
	}
	es, err := r.Stream(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return len(es)
}

// keysByName groups keys by their name prefix, listing the kinds (the part
// after the name) each name has; a key under no name is reported.
func keysByName(t testing.TB, keys, names []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, k := range keys {
		name, rest, _ := strings.Cut(k, ":")
		if !slices.Contains(names, name) {
			t.Errorf("key %q is under neither name", k)
			continue
		}
		kind, _, _ := strings.Cut(rest, ":")
		if !slices.Contains(out[name], kind) {
			out[name] = append(out[name], kind)
		}
	}
	for n := range out {
		sort.Strings(out[n])
	}
	return out
}

// brokerTopics lists the topics of s's broker.
func brokerTopics(t testing.TB, s *stack.Stack) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return td.Names()
}

// TestTwoClusterNamesShareOneKafka: two dev stacks with different
// CLUSTER_NAMEs on one Kafka (and one Redis) each consume only their own
// topics, in their own consumer group: an item added in one is stored in
// that one only, even with the same id added in both.
func TestTwoClusterNamesShareOneKafka(t *testing.T) {
	shared, err := embedded.StartRedis(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shared.Close)
	base := stack.Config{Workers: 1, RedisURL: envconfig.Secret(shared.URL()), FeedInterval: time.Hour}
	cfgA := base
	cfgA.ClusterName = clustername.MustParse("shop-a")
	a := stacktest.Start(t, cfgA)
	cfgB := base
	cfgB.ClusterName, cfgB.KafkaBrokers = clustername.MustParse("shop-b"), a.Brokers()
	b := stacktest.Start(t, cfgB) // closed first: it uses A's broker

	for s, name := range map[*stack.Stack]string{a: "in-a", b: "in-b"} {
		for _, id := range []string{"kafka-" + name, "kafka-same"} {
			if st, body := call(t, s, http.MethodPost, "/item/add", addBody(id, name)); st != http.StatusAccepted || body["writeStatus"] != "WRITE_STATUS_PUBLISHED" {
				t.Fatalf("add %s: %d %v, want 202 published", id, st, body)
			}
		}
	}
	for s, name := range map[*stack.Stack]string{a: "in-a", b: "in-b"} {
		eventually(t, 20*time.Second, func() error {
			for _, id := range []string{"kafka-" + name, "kafka-same"} {
				st, body := fetchItem(t, s, id)
				if it := itemOf(body); st != http.StatusOK || it["name"] != name {
					return fmt.Errorf("%s in the stack %s: %d %v", id, name, st, body)
				}
			}
			return nil
		})
	}
	// Settled: neither stack stored the other's item.
	time.Sleep(500 * time.Millisecond)
	if st, _ := fetchItem(t, a, "kafka-in-b"); st != http.StatusNotFound {
		t.Errorf("B's item in A: %d, want 404", st)
	}
	if st, _ := fetchItem(t, b, "kafka-in-a"); st != http.StatusNotFound {
		t.Errorf("A's item in B: %d, want 404", st)
	}
	for _, s := range []*stack.Stack{a, b} {
		if n := storedItems(t, s); n != 2 {
			t.Errorf("%d items stored in a stack, want its own 2", n)
		}
	}

	// The broker's topics and groups are each under one of the names.
	var seen []string
	for _, topic := range brokerTopics(t, a) {
		if !strings.HasPrefix(topic, "shop-a.") && !strings.HasPrefix(topic, "shop-b.") && !strings.HasPrefix(topic, "__") {
			t.Errorf("topic %s is under neither name", topic)
		}
		seen = append(seen, topic)
	}
	for _, n := range []string{"shop-a", "shop-b"} {
		for _, topic := range topics.For(clustername.MustParse(n)).All() {
			if !slices.Contains(seen, topic) {
				t.Errorf("no topic %s; the broker has %v", topic, seen)
			}
		}
	}
	groups := brokerGroups(t, a)
	for _, g := range []string{"shop-a.workers", "shop-b.workers"} {
		if !slices.Contains(groups, g) {
			t.Errorf("no consumer group %s; the broker has %v", g, groups)
		}
	}
}

// brokerGroups lists the consumer groups of s's broker.
func brokerGroups(t testing.TB, s *stack.Stack) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := kadm.NewClient(cl).ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return gs.Groups()
}

// storedItems counts the items in the stack's own database (its workers'
// MONGO_DATABASE, the deployment's name by default).
func storedItems(t testing.TB, s *stack.Stack) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	n, err := c.Database(s.WorkerConfig("count").Database()).Collection("items").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
