package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/pawnshop/auction/services/devstack/stack/stacktest"
)

// startStack runs the platform in-process on random ports with workers.
func startStack(t testing.TB, workers int) *stack.Stack {
	t.Helper()
	return startStackWith(t, stack.Config{Workers: workers})
}

// startStackWith runs the platform with cfg on random ports and a temporary
// data directory.
func startStackWith(t testing.TB, cfg stack.Config) *stack.Stack {
	t.Helper()
	return stacktest.Start(t, cfg)
}

// client is an HTTP client of the stack's public API that sends the stack's
// API key (every scope) with each request; every test's calls go through it
// or h2cClient unless the test is about credentials.
func client(s *stack.Stack) *http.Client { return stacktest.Client(s) }

// call sends a REST request with the stack's key and decodes the JSON answer.
func call(t testing.TB, s *stack.Stack, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client(s).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: status %d, body is not JSON: %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, out
}

// eventually retries check until it passes or d elapses.
func eventually(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fetchItem(t testing.TB, s *stack.Stack, id string) (int, map[string]any) {
	return call(t, s, http.MethodGet, "/item/fetch/"+id, "")
}

func itemOf(body map[string]any) map[string]any {
	iwh, _ := body["item"].(map[string]any)
	it, _ := iwh["item"].(map[string]any)
	return it
}

func listLen(body map[string]any, key string) int {
	l, _ := body[key].([]any)
	return len(l)
}

// api returns a client of the public API through the generated Connect
// code (binary protobuf over HTTP/1.1), as a Go program would use it.
func api(s *stack.Stack) auctionv1connect.AuctionServiceClient {
	return auctionv1connect.NewAuctionServiceClient(client(s), s.URL())
}

// getItem fetches an item with its history through the Connect client.
func getItem(s *stack.Stack, id string) (*auctionv1.ItemWithHistory, error) {
	res, err := api(s).GetItem(context.Background(), connect.NewRequest(&auctionv1.GetItemRequest{Id: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetItem(), nil
}

// h2cClient speaks cleartext HTTP/2, as gRPC needs, and sends the stack's
// API key with each request.
func h2cClient(s *stack.Stack) *http.Client {
	return &http.Client{Transport: stacktest.Bearer(s.APIKey(), h2cTransport())}
}

// h2cTransport is a cleartext HTTP/2 transport without credentials.
func h2cTransport() *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: &p}
}

// repoRoot is the directory of go.mod above the test's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// produce puts one raw record on topic of the stack's broker, as a forged
// event or an older producer would, and returns where it landed.
func produce(t testing.TB, s *stack.Stack, topic string, key, value []byte, headers ...kafka.Header) kafka.TopicPartition {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": strings.Join(s.Brokers(), ","), "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan kafka.Event, 1)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key: key, Value: value, Headers: headers}, done); err != nil {
		t.Fatal(err)
	}
	m := (<-done).(*kafka.Message)
	if m.TopicPartition.Error != nil {
		t.Fatal(m.TopicPartition.Error)
	}
	return m.TopicPartition
}
