package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/devstack/stack"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestPoisonEventDatedInYear33658IsDeadLetteredAndIngestGoesOn: a buy dated
// seconds=1e12 is refused with invalid_argument over Connect, gRPC and
// gRPC-Web; the same ItemBought, dated seconds=1e12, otherwise valid and properly enveloped, is
// produced straight onto auction.buy-actions (a forged event, or one from an older
// producer). The worker cannot store it: it parks it on auction.buy-actions.dlq with
// its original bytes and the reason (invalid once the contract bounds dates,
// encode before that), counts it, and the items and buys added after it,
// including a buy of the same item on the same partition, are all stored and
// readable.
func TestPoisonEventDatedInYear33658IsDeadLetteredAndIngestGoesOn(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 1})
	const item = "poison.clock"

	// Through the API, on every protocol in binary protobuf (JSON cannot spell
	// such a date), the same buy is refused before anything is published.
	for _, c := range []struct {
		name string
		opt  connect.ClientOption
	}{{"connect", nil}, {"grpc", connect.WithGRPC()}, {"grpcweb", connect.WithGRPCWeb()}} {
		var opts []connect.ClientOption
		if c.opt != nil {
			opts = append(opts, c.opt)
		}
		client := auctionv1connect.NewAuctionServiceClient(h2cClient(s), s.URL(), opts...)
		_, err := client.BuyItem(t.Context(), connect.NewRequest(&auctionv1.BuyItemRequest{
			ClientId: "alice", ItemId: item, PriceCents: 1500, Date: &timestamppb.Timestamp{Seconds: 1e12}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "date") {
			t.Fatalf("%s: a buy dated seconds=1e12 answered %v, want invalid_argument naming date", c.name, err)
		}
	}
	client := api(s)
	if _, err := client.AddItem(t.Context(), connect.NewRequest(&auctionv1.AddItemRequest{Id: item, Name: "Clock",
		Category: auctionv1.Category_CATEGORY_COLLECTION, PriceCents: 500, State: auctionv1.State_STATE_GOOD})); err != nil {
		t.Fatalf("add: %v", err)
	}

	now := timestamppb.Now()
	eventID := uuid.NewString()
	poison, err := proto.Marshal(&eventsv1.ItemBought{
		Envelope: &eventsv1.Envelope{EventId: eventID, AcceptedAt: now, RequestId: "forged-request"},
		Buy:      &auctionv1.Buy{ClientId: "alice", ItemId: item, PriceCents: 1500, Date: &timestamppb.Timestamp{Seconds: 1e12}},
	})
	if err != nil {
		t.Fatal(err)
	}
	topic := defaultTopics.BuyActions
	// Keyed by item id like the dispatcher's events, so the buy below follows it on the same partition.
	produced := produce(t, s, topic, []byte(item), poison, kafka.Header{Key: "event-id", Value: []byte(eventID)})

	// Later writes: a buy of the same item, and more items.
	if _, err := client.BuyItem(t.Context(), connect.NewRequest(&auctionv1.BuyItemRequest{ClientId: "bob", ItemId: item, PriceCents: 700})); err != nil {
		t.Fatalf("buy: %v", err)
	}
	const later = 20
	for i := range later {
		if _, err := client.AddItem(t.Context(), connect.NewRequest(&auctionv1.AddItemRequest{Id: fmt.Sprintf("after.poison.%02d", i), Name: "Lamp",
			Category: auctionv1.Category_CATEGORY_DECORATION, PriceCents: int64(i + 1), State: auctionv1.State_STATE_NEW})); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	eventually(t, 15*time.Second, func() error {
		iwh, err := getItem(s, item)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", item, err)
		}
		if buys := iwh.GetBuys(); len(buys) != 1 || buys[0].GetClientId() != "bob" {
			return fmt.Errorf("buys of %s: %v, want only bob's (ingest stalled behind the poison event?)", item, buys)
		}
		for i := range later {
			if _, err := getItem(s, fmt.Sprintf("after.poison.%02d", i)); err != nil {
				return fmt.Errorf("item %d added after the poison event: %w", i, err)
			}
		}
		return nil
	})

	var parked *kafka.Message
	eventually(t, 5*time.Second, func() error {
		for _, m := range readTopic(t, s, topics.DeadLetter(defaultTopics.BuyActions)) {
			if string(m.Key) == item {
				parked = m
			}
		}
		if parked == nil {
			return fmt.Errorf("the poison event is not on %s", topics.DeadLetter(defaultTopics.BuyActions))
		}
		return nil
	})
	if !bytes.Equal(parked.Value, poison) {
		t.Errorf("parked value differs from the produced bytes")
	}
	headers := map[string]string{}
	for _, h := range parked.Headers {
		headers[h.Key] = string(h.Value)
	}
	class := headers["dlq-reason-class"]
	if class != "invalid" && class != "encode" {
		t.Errorf("dlq-reason-class %q, want invalid or encode", class)
	}
	if reason := headers["dlq-reason"]; !strings.HasPrefix(reason, class+": ") {
		t.Errorf("dlq-reason %q does not say what went wrong", reason)
	}
	if headers["event-id"] != eventID || headers["origin-topic"] != topic ||
		headers["origin-partition"] != fmt.Sprint(produced.Partition) || headers["origin-offset"] != fmt.Sprint(int64(produced.Offset)) {
		t.Errorf("headers %v do not locate the original record %v", headers, produced)
	}
	t.Logf("dead-lettered: %s", headers["dlq-reason"])

	if n := deadLetteredCount(t, s, topic, class); n < 1 {
		t.Errorf("auction_worker_dead_lettered_total{topic=%q,reason=%q} = %v, want at least 1", topic, class, n)
	}
}

// deadLetteredCount sums auction_worker_dead_lettered_total for topic and
// reason over the workers, from the stack's /metrics.
func deadLetteredCount(t testing.TB, s *stack.Stack, topic, reason string) float64 {
	t.Helper()
	res, err := client(s).Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sum float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "auction_worker_dead_lettered_total{") || !strings.Contains(line, `topic="`+topic+`"`) ||
			!strings.Contains(line, `reason="`+reason+`"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
