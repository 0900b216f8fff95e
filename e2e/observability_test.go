package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestMetricsAreServed checks /metrics after a few requests: requests by
// procedure and code, Kafka produce and consume counts, MongoDB batches,
// consumer lag and the joined workers.
func TestMetricsAreServed(t *testing.T) {
	s := startStack(t, 1)
	code, _ := call(t, s, "POST", "/item/add", `{"id":"metered","name":"m","category":"CATEGORY_READING","priceCents":1,"state":"STATE_NEW"}`)
	if code != http.StatusAccepted {
		t.Fatal(code)
	}
	call(t, s, "GET", "/item/fetch/nothing", "")
	eventually(t, 30*time.Second, func() error {
		if code, _ := fetchItem(t, s, "metered"); code != http.StatusOK {
			return fmt.Errorf("not stored yet")
		}
		return nil
	})
	var text string
	eventually(t, 10*time.Second, func() error {
		res, err := client(s).Get(s.URL() + "/metrics")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		text = string(b)
		for _, want := range []string{
			`auction_dispatcher_requests_total{code="ok",protocol="rest",route="POST /item/add"} 1`,
			`auction_dispatcher_requests_total{code="not_found",protocol="rest",route="GET /item/fetch/{id}"} `,
			`auction_dispatcher_request_duration_seconds_bucket`,
			`auction_dispatcher_kafka_produced_total{result="ok",topic="auction.items"} 1`,
			`auction_dispatcher_workers_joined 1`,
			`auction_worker_records_committed_total{topic="auction.items",worker="worker-1"} 1`,
			`auction_worker_mongo_batch_size_count{kind="item",worker="worker-1"} 1`,
			`auction_worker_mongo_write_duration_seconds_count{kind="item",result="ok",worker="worker-1"} 1`,
			`auction_worker_consumer_lag{partition=`,
			`go_goroutines`,
		} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}

// TestOneTraceFollowsAWrite checks that the trace of a write's HTTP request
// continues, through the Kafka headers, into the worker's ingest span, and
// that the MongoDB write is linked to it.
func TestOneTraceFollowsAWrite(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	s := startStack(t, 1)
	// The stack's deployment is the default one: its topics are "auction.*".
	itemsTopic := topics.For(clustername.Name{}).Items
	code, _ := call(t, s, "POST", "/item/add", `{"id":"traced","name":"t","category":"CATEGORY_READING","priceCents":1,"state":"STATE_NEW"}`)
	if code != http.StatusAccepted {
		t.Fatal(code)
	}
	eventually(t, 30*time.Second, func() error {
		var root, publish, ingest sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			switch sp.Name() {
			case "POST /item/add":
				root = sp
			case "publish " + itemsTopic:
				publish = sp
			case "ingest " + itemsTopic:
				ingest = sp
			}
		}
		if root == nil || publish == nil || ingest == nil {
			return fmt.Errorf("spans so far: http=%v publish=%v ingest=%v", root != nil, publish != nil, ingest != nil)
		}
		if publish.SpanContext().TraceID() != root.SpanContext().TraceID() || ingest.SpanContext().TraceID() != root.SpanContext().TraceID() {
			return fmt.Errorf("the write's spans are in different traces")
		}
		if ingest.Parent().SpanID() != publish.SpanContext().SpanID() {
			return fmt.Errorf("ingest span's parent is not the publish span")
		}
		for _, sp := range rec.Ended() {
			if sp.Name() == "mongodb write item" {
				for _, l := range sp.Links() {
					if l.SpanContext.SpanID() == ingest.SpanContext().SpanID() {
						return nil
					}
				}
			}
		}
		return fmt.Errorf("no MongoDB write span linked to the ingest span")
	})
}
