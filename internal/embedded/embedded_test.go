package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// kafkaDeadline bounds each Kafka test as a whole; every wait derives from
// it, so a protocol mismatch fails the test instead of hanging it. The tests
// take about 2 s, with or without -race.
const kafkaDeadline = 30 * time.Second

// mongoDeadline bounds each MongoDB test. It is generous because FerretDB's
// SQLite backend runs as transpiled C (modernc.org/sqlite), which -race and
// the checkptr checks it implies slow down about 25 times: the 1,000 upserts
// take 2 s normally and about 50 s with -race.
const mongoDeadline = 3 * time.Minute

// testContext returns a context that ends after d or when the test ends.
func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// remainingMs returns the time left before ctx's deadline in milliseconds,
// the unit librdkafka's blocking calls take.
func remainingMs(ctx context.Context) int {
	deadline, ok := ctx.Deadline()
	if !ok {
		return -1 // librdkafka: wait indefinitely
	}
	return max(int(time.Until(deadline).Milliseconds()), 0)
}

// startTestKafka starts a broker on a random port that stops when the test
// ends. Register it before any client so that t.Cleanup closes the clients
// first.
func startTestKafka(tb testing.TB, ctx context.Context, partitions int) *Kafka {
	tb.Helper()
	k, err := StartKafka(ctx, KafkaConfig{Addr: "127.0.0.1:0", Partitions: partitions})
	if err != nil {
		tb.Fatalf("StartKafka: %v", err)
	}
	tb.Cleanup(k.Close)
	if strings.HasSuffix(k.Brokers(), ":0") {
		tb.Fatalf("Brokers() = %q, want the bound port", k.Brokers())
	}
	return k
}

// rdkafkaLogs returns a channel for librdkafka's "go.logs.channel" that is
// forwarded to tb.Logf, so librdkafka writes nothing to stderr and its logs
// show up only for failing or -v runs. Call it before creating any client:
// the forwarder stops in a cleanup that must run after the clients close.
func rdkafkaLogs(tb testing.TB) chan kafka.LogEvent {
	tb.Helper()
	logs := make(chan kafka.LogEvent, 1024)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case ev := <-logs:
				tb.Logf("librdkafka %s %s: %s", ev.Name, ev.Tag, ev.Message)
			case <-done:
				return
			}
		}
	})
	tb.Cleanup(func() {
		close(done)
		wg.Wait()
	})
	return logs
}

// rdkafkaConfig returns a librdkafka configuration for k with extra settings
// applied on top.
func rdkafkaConfig(k *Kafka, logs chan kafka.LogEvent, extra kafka.ConfigMap) *kafka.ConfigMap {
	cfg := kafka.ConfigMap{
		"bootstrap.servers":      k.Brokers(),
		"go.logs.channel.enable": true,
		"go.logs.channel":        logs,
	}
	for key, v := range extra {
		cfg[key] = v
	}
	return &cfg
}

// newIdempotentProducer returns a confluent-kafka-go producer configured as
// the services configure theirs, closed when the test ends.
func newIdempotentProducer(tb testing.TB, k *Kafka, logs chan kafka.LogEvent) *kafka.Producer {
	tb.Helper()
	p, err := kafka.NewProducer(rdkafkaConfig(k, logs, kafka.ConfigMap{
		"enable.idempotence": true,
		"acks":               "all",
		"linger.ms":          5,
	}))
	if err != nil {
		tb.Fatalf("NewProducer: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// produceAll produces one message per key to topic and waits for every
// delivery report, failing the test on any delivery error or fatal producer
// error. It returns the partitions the messages landed on.
func produceAll(tb testing.TB, ctx context.Context, p *kafka.Producer, topic string, keys []string) map[int32]int {
	tb.Helper()
	for _, key := range keys {
		err := p.Produce(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            []byte(key),
			Value:          []byte("value of " + key),
		}, nil)
		if err != nil {
			tb.Fatalf("Produce(%s): %v", key, err)
		}
	}
	partitions := make(map[int32]int)
	for delivered := 0; delivered < len(keys); {
		select {
		case ev := <-p.Events():
			switch ev := ev.(type) {
			case *kafka.Message:
				if ev.TopicPartition.Error != nil {
					tb.Fatalf("delivery of %s failed: %v", ev.Key, ev.TopicPartition.Error)
				}
				partitions[ev.TopicPartition.Partition]++
				delivered++
			case kafka.Error:
				if ev.IsFatal() {
					tb.Fatalf("fatal producer error: %v", ev)
				}
				tb.Logf("producer error: %v", ev)
			}
		case <-ctx.Done():
			tb.Fatalf("waiting for delivery reports: %d of %d delivered: %v", delivered, len(keys), ctx.Err())
		}
	}
	if left := p.Flush(remainingMs(ctx)); left != 0 {
		tb.Fatalf("Flush: %d messages still queued", left)
	}
	return partitions
}

// groupConsumer is a consumer-group member using the cooperative-sticky
// assignor and manual commits, the way the services consume.
type groupConsumer struct {
	*kafka.Consumer
	assigned int // partitions received through IncrementalAssign
}

// newGroupConsumer subscribes a new member of group to topic. Its rebalance
// callback applies the incremental (cooperative) protocol explicitly.
func newGroupConsumer(tb testing.TB, k *Kafka, logs chan kafka.LogEvent, group, topic string) *groupConsumer {
	tb.Helper()
	c, err := kafka.NewConsumer(rdkafkaConfig(k, logs, kafka.ConfigMap{
		"group.id":                      group,
		"partition.assignment.strategy": "cooperative-sticky",
		"enable.auto.commit":            false,
		"auto.offset.reset":             "earliest",
	}))
	if err != nil {
		tb.Fatalf("NewConsumer: %v", err)
	}
	gc := &groupConsumer{Consumer: c}
	// A second Close (after the test closed it) just returns an error.
	tb.Cleanup(func() { _ = c.Close() })
	rebalance := func(c *kafka.Consumer, ev kafka.Event) error {
		switch ev := ev.(type) {
		case kafka.AssignedPartitions:
			gc.assigned += len(ev.Partitions)
			return c.IncrementalAssign(ev.Partitions)
		case kafka.RevokedPartitions:
			if c.AssignmentLost() {
				tb.Logf("assignment lost: %v", ev.Partitions)
			}
			return c.IncrementalUnassign(ev.Partitions)
		}
		return nil
	}
	if err := c.SubscribeTopics([]string{topic}, rebalance); err != nil {
		tb.Fatalf("SubscribeTopics: %v", err)
	}
	return gc
}

// consumeAndCommit polls until it has processed want messages, committing
// each one synchronously after processing it, and returns them by key. It
// fails the test on a duplicate, a consumer error or the deadline.
func (gc *groupConsumer) consumeAndCommit(tb testing.TB, ctx context.Context, want int) map[string]kafka.TopicPartition {
	tb.Helper()
	got := make(map[string]kafka.TopicPartition, want)
	for len(got) < want {
		if ctx.Err() != nil {
			tb.Fatalf("consumed %d of %d messages: %v", len(got), want, ctx.Err())
		}
		switch ev := gc.Poll(100).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				tb.Fatalf("consume: %v", ev.TopicPartition.Error)
			}
			key := string(ev.Key)
			if prev, dup := got[key]; dup {
				tb.Fatalf("message %s delivered twice: %v and %v", key, prev, ev.TopicPartition)
			}
			got[key] = ev.TopicPartition
			if _, err := gc.CommitMessage(ev); err != nil {
				tb.Fatalf("CommitMessage(%v): %v", ev.TopicPartition, err)
			}
		case kafka.Error:
			if ev.IsFatal() {
				tb.Fatalf("fatal consumer error: %v", ev)
			}
			tb.Logf("consumer error: %v", ev)
		}
	}
	return got
}

// expectNothing polls for d and fails the test if any message arrives.
func (gc *groupConsumer) expectNothing(tb testing.TB, d time.Duration) {
	tb.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if m, ok := gc.Poll(100).(*kafka.Message); ok {
			tb.Fatalf("unexpected (re)delivery of %s at %v", m.Key, m.TopicPartition)
		}
	}
}

// keys returns n distinct message keys with the given prefix.
func keys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ks
}

// TestKafkaConfluentClient drives the embedded broker with librdkafka (through
// confluent-kafka-go) the way the services do: admin topic creation, an
// idempotent producer, and a cooperative-sticky consumer group with manual
// commits that resumes from its committed offsets after a restart.
func TestKafkaConfluentClient(t *testing.T) {
	ctx := testContext(t, kafkaDeadline)
	k := startTestKafka(t, ctx, 0)
	logs := rdkafkaLogs(t)
	const (
		topic      = "lots.bids"
		group      = "bid-workers"
		partitions = 8
	)

	producer := newIdempotentProducer(t, k, logs)
	// NewAdminClient rejects the go.logs.channel settings; an admin client
	// derived from the producer shares its connections and its log channel.
	admin, err := kafka.NewAdminClientFromProducer(producer)
	if err != nil {
		t.Fatalf("NewAdminClientFromProducer: %v", err)
	}
	t.Cleanup(admin.Close)
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic:         topic,
		NumPartitions: partitions,
		// The stand-in is a single broker: a replication factor above 1
		// is rejected (INVALID_REPLICATION_FACTOR), as on a real one.
		ReplicationFactor: 1,
	}}, kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if len(res) != 1 || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("CreateTopics result: %v", res)
	}
	md, err := admin.GetMetadata(ptr(topic), false, remainingMs(ctx))
	if err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if got := len(md.Topics[topic].Partitions); got != partitions {
		t.Fatalf("metadata shows %d partitions for %s, want %d", got, topic, partitions)
	}

	first := keys("bid", 100)
	spread := produceAll(t, ctx, producer, topic, first)
	if len(spread) < 2 {
		t.Fatalf("100 keyed messages landed on partitions %v; want them spread", spread)
	}

	c1 := newGroupConsumer(t, k, logs, group, topic)
	got := c1.consumeAndCommit(t, ctx, len(first))
	for _, key := range first {
		if _, ok := got[key]; !ok {
			t.Fatalf("message %s never consumed", key)
		}
	}
	if proto := c1.GetRebalanceProtocol(); proto != "COOPERATIVE" {
		t.Errorf("rebalance protocol = %q, want COOPERATIVE", proto)
	}
	if c1.assigned != partitions {
		t.Errorf("first member was assigned %d partitions, want %d", c1.assigned, partitions)
	}
	// The committed offsets (next offset to read) add up to the number of
	// messages: every message was committed exactly once.
	tps := make([]kafka.TopicPartition, partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: ptr(topic), Partition: int32(i)}
	}
	committed, err := c1.Committed(tps, remainingMs(ctx))
	if err != nil {
		t.Fatalf("Committed: %v", err)
	}
	var total int64
	for _, tp := range committed {
		if tp.Offset >= 0 {
			total += int64(tp.Offset)
		}
	}
	if total != int64(len(first)) {
		t.Fatalf("committed offsets add up to %d, want %d: %v", total, len(first), committed)
	}
	// Close leaves the group (LeaveGroup), so the next member does not
	// wait for the session timeout before it gets the partitions.
	if err := c1.Close(); err != nil {
		t.Fatalf("closing first consumer: %v", err)
	}

	// New traffic while the group has no member; a restarted member must
	// get exactly this and nothing from before its last commits.
	second := keys("late-bid", 20)
	produceAll(t, ctx, producer, topic, second)

	c2 := newGroupConsumer(t, k, logs, group, topic)
	got = c2.consumeAndCommit(t, ctx, len(second))
	for _, key := range second {
		if _, ok := got[key]; !ok {
			t.Fatalf("message %s never consumed after restart; got %v", key, got)
		}
	}
	c2.expectNothing(t, 500*time.Millisecond)
}

// TestKafkaAutoCreatedTopicsUsePartitions checks that a topic the broker
// creates on its own, as it does when a producer writes to an unknown topic,
// gets KafkaConfig.Partitions partitions and not one.
func TestKafkaAutoCreatedTopicsUsePartitions(t *testing.T) {
	ctx := testContext(t, kafkaDeadline)
	const partitions = 3
	k := startTestKafka(t, ctx, partitions)
	logs := rdkafkaLogs(t)
	producer := newIdempotentProducer(t, k, logs)
	const topic = "never.created"
	produceAll(t, ctx, producer, topic, keys("k", 10))

	md, err := producer.GetMetadata(ptr(topic), false, remainingMs(ctx))
	if err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if got := len(md.Topics[topic].Partitions); got != partitions {
		t.Fatalf("auto-created topic has %d partitions, want %d", got, partitions)
	}
}

// TestStartKafkaRejectsNegativePartitions checks the config validation.
func TestStartKafkaRejectsNegativePartitions(t *testing.T) {
	if k, err := StartKafka(t.Context(), KafkaConfig{Partitions: -1}); err == nil {
		k.Close()
		t.Fatal("StartKafka accepted Partitions: -1")
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// startTestMongo starts a server on a random port over dir, closed when the
// test ends (Close is idempotent, so tests may close it earlier).
func startTestMongo(tb testing.TB, ctx context.Context, dir string) *Mongo {
	tb.Helper()
	m, err := StartMongo(ctx, MongoConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		tb.Fatalf("StartMongo: %v", err)
	}
	tb.Cleanup(m.Close)
	return m
}

// connectMongo connects the official driver to m; every operation is bounded
// by the ctx it is given. Call the returned disconnect before m.Close, or
// Close waits out FerretDB's grace period for open connections; it also runs
// at cleanup, which t.Cleanup orders before m's Close.
func connectMongo(tb testing.TB, ctx context.Context, m *Mongo) (*mongo.Client, func()) {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	if err != nil {
		tb.Fatalf("mongo.Connect(%s): %v", m.URI(), err)
	}
	var once sync.Once
	disconnect := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := client.Disconnect(ctx); err != nil {
				tb.Errorf("Disconnect: %v", err)
			}
		})
	}
	tb.Cleanup(disconnect)
	if err := client.Ping(ctx, nil); err != nil {
		tb.Fatalf("Ping: %v", err)
	}
	return client, disconnect
}

// lotItem is a document of the test collection.
type lotItem struct {
	ID    string `bson:"_id"`
	SKU   string `bson:"sku"`
	Lot   int    `bson:"lot"`
	Price int64  `bson:"price"`
}

// upsertItems returns one ReplaceOne upsert keyed by _id per item i in
// [from, to), priced at price(i).
func upsertItems(from, to int, price func(i int) int64) []mongo.WriteModel {
	models := make([]mongo.WriteModel, 0, to-from)
	for i := from; i < to; i++ {
		item := lotItem{
			ID:    fmt.Sprintf("item-%04d", i),
			SKU:   fmt.Sprintf("sku-%04d", i),
			Lot:   i % 10,
			Price: price(i),
		}
		models = append(models, mongo.NewReplaceOneModel().
			SetFilter(bson.D{{Key: "_id", Value: item.ID}}).
			SetReplacement(item).
			SetUpsert(true))
	}
	return models
}

// TestMongoDriverV2 drives the embedded server with the official driver:
// an unordered bulk of upserts, an index, queries, and a restart on the same
// data directory that keeps the data.
func TestMongoDriverV2(t *testing.T) {
	t.Parallel() // with TestStartMongoTempDir: two servers at once
	ctx := testContext(t, mongoDeadline)
	dir := filepath.Join(t.TempDir(), "mongo-data") // does not exist yet
	const n = 1000

	m := startTestMongo(t, ctx, dir)
	client, disconnect := connectMongo(t, ctx, m)
	coll := client.Database("auction").Collection("items")

	unordered := options.BulkWrite().SetOrdered(false)
	res, err := coll.BulkWrite(ctx, upsertItems(0, n, func(i int) int64 { return int64(i) * 100 }), unordered)
	if err != nil {
		t.Fatalf("BulkWrite: %v", err)
	}
	if res.UpsertedCount != n || res.MatchedCount != 0 {
		t.Fatalf("BulkWrite upserted %d and matched %d documents, want %d and 0 (%+v)", res.UpsertedCount, res.MatchedCount, n, res)
	}
	// Upserts that match existing documents replace them. FerretDB v1
	// deadlocks on an update command with more than 100 statements that
	// match (see Mongo), so this bulk stays well below that.
	res, err = coll.BulkWrite(ctx, upsertItems(0, 10, func(i int) int64 { return int64(i)*100 + 1 }), unordered)
	if err != nil {
		t.Fatalf("BulkWrite over existing documents: %v", err)
	}
	if res.MatchedCount != 10 || res.ModifiedCount != 10 || res.UpsertedCount != 0 {
		t.Fatalf("BulkWrite over existing documents: %+v, want 10 matched and modified", res)
	}

	name, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "sku", Value: 1}},
		Options: options.Index().SetUnique(true),
	})
	if err != nil {
		t.Fatalf("CreateOne index: %v", err)
	}
	if name != "sku_1" {
		t.Errorf("index name = %q, want sku_1", name)
	}

	var item lotItem
	if err := coll.FindOne(ctx, bson.D{{Key: "sku", Value: "sku-0042"}}).Decode(&item); err != nil {
		t.Fatalf("FindOne by sku: %v", err)
	}
	if want := (lotItem{ID: "item-0042", SKU: "sku-0042", Lot: 2, Price: 4200}); item != want {
		t.Fatalf("FindOne by sku = %+v, want %+v", item, want)
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "sku", Value: bson.D{{Key: "$in", Value: bson.A{"sku-0001", "sku-0500", "sku-9999"}}}}},
		options.Find().SetSort(bson.D{{Key: "sku", Value: 1}}))
	if err != nil {
		t.Fatalf("Find by sku: %v", err)
	}
	var found []lotItem
	if err := cur.All(ctx, &found); err != nil {
		t.Fatalf("Find by sku: %v", err)
	}
	if len(found) != 2 || found[0].ID != "item-0001" || found[0].Price != 101 || found[1].ID != "item-0500" {
		t.Fatalf("Find by sku $in = %+v, want item-0001 (re-upserted) and item-0500", found)
	}
	if count, err := coll.CountDocuments(ctx, bson.D{}); err != nil || count != n {
		t.Fatalf("CountDocuments = %d, %v; want %d", count, err, n)
	}
	if count, err := coll.CountDocuments(ctx, bson.D{{Key: "lot", Value: 3}}); err != nil || count != n/10 {
		t.Fatalf("CountDocuments(lot 3) = %d, %v; want %d", count, err, n/10)
	}
	// The unique index is enforced.
	_, err = coll.InsertOne(ctx, lotItem{ID: "dup", SKU: "sku-0007"})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("InsertOne with a duplicate sku: err = %v, want a duplicate key error", err)
	}

	// Restart on the same data directory.
	disconnect()
	m.Close()
	m = startTestMongo(t, ctx, dir)
	client, _ = connectMongo(t, ctx, m)
	coll = client.Database("auction").Collection("items")
	if count, err := coll.CountDocuments(ctx, bson.D{}); err != nil || count != n {
		t.Fatalf("after restart CountDocuments = %d, %v; want %d", count, err, n)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "sku", Value: "sku-0999"}}).Decode(&item); err != nil {
		t.Fatalf("after restart FindOne by sku: %v", err)
	}
	if want := (lotItem{ID: "item-0999", SKU: "sku-0999", Lot: 9, Price: 99900}); item != want {
		t.Fatalf("after restart FindOne by sku = %+v, want %+v", item, want)
	}
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatalf("ListSpecifications: %v", err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, "sku_1") {
		t.Fatalf("after restart indexes = %v, want sku_1 among them", names)
	}
}

// TestStartMongoTempDir checks that without a DataDir the server uses a
// temporary directory that Close removes.
func TestStartMongoTempDir(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, mongoDeadline)
	m, err := StartMongo(ctx, MongoConfig{})
	if err != nil {
		t.Fatalf("StartMongo: %v", err)
	}
	t.Cleanup(m.Close)
	client, disconnect := connectMongo(t, ctx, m)
	if _, err := client.Database("scratch").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	dir := m.DataDir()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("data directory: %v", err)
	}
	disconnect()
	m.Close()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary data directory %s still exists after Close (stat: %v)", dir, err)
	}
}

// TestStartMongoRejectsUnsafeDataDir checks that a data directory FerretDB
// would mishandle is refused instead of storing the data elsewhere.
func TestStartMongoRejectsUnsafeDataDir(t *testing.T) {
	for _, name := range []string{"a#b", "a?b", "a%20b"} {
		m, err := StartMongo(t.Context(), MongoConfig{DataDir: filepath.Join(t.TempDir(), name)})
		if err == nil {
			m.Close()
			t.Errorf("StartMongo accepted data directory %q", name)
		}
	}
}
