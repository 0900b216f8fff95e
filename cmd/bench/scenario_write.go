package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	baselinePublish = "minimal publish handler"
	baselineNoAuth  = "dispatcher without authentication"
)

// addBody is the write every side sends: the README's example item, no id
// (each side assigns one).
const addBody = `{"name":"Brass lamp","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD","ageMonths":120}`

// scenarioWrite measures POST /item/add through the dispatcher, over REST and
// over Connect, against a minimal handler that does the essential work of
// the route with the same producer settings. No worker runs meanwhile: the
// dispatcher alone is measured, and the baseline's events land on the same
// topics.
func (b *bench) scenarioWrite(ctx context.Context) error {
	timeout := b.s.DispatcherConfig().PublishTimeout
	p, err := newProducer(b.s.Brokers(), "bench-baseline")
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	v, err := protovalidate.New()
	if err != nil {
		return err
	}
	baseURL, stop, err := serve(&publishHandler{p: p, topic: topics.For(b.o.ClusterName).Items, v: v, timeout: timeout})
	if err != nil {
		return err
	}
	defer stop()
	// The same dispatcher without authentication, on the same backends: what
	// authenticating the key costs a request. It logs nothing (its
	// AUTH_MODE=none warning would otherwise be written on every request).
	noAuthURL, stopNoAuth, err := b.s.StartDispatcher(ctx, map[string]string{"AUTH_MODE": "none", "API_KEYS_FILE": "",
		"DISPATCHER_ID": "bench-" + b.run + "-noauth"}, quietLogger())
	if err != nil {
		return fmt.Errorf("start the dispatcher without authentication: %w", err)
	}
	defer func() { _ = stopNoAuth(context.Background()) }()
	b.res.Baselines[baselineNoAuth] = "the same dispatcher configuration, started beside the stack's on the same Kafka and Redis with " +
		"AUTH_MODE=none (and logging nothing), sent the same requests (with the same Authorization header, which it ignores); " +
		"the platform side is the stack's dispatcher, which authenticates every request's API key (sha256 of the key, looked up among the hashes)."
	b.res.Baselines[baselinePublish] = fmt.Sprintf("a minimal net/http handler in this program, POST /item/add: read the body, "+
		"protojson-decode it into the same auctionv1.AddItemRequest, validate it with protovalidate, build the same ItemAdded event "+
		"(the dispatcher's shape and encoding: UUIDv7 event id, request id, accept time, binary protobuf, event-id and type headers), publish it with internal/kafkapub "+
		"(the dispatcher's producer settings: idempotent, acks=all, linger 2ms) to the same topic and wait for the broker's "+
		"acknowledgement (up to %s), answer 202 with the protojson AddItemResponse. It skips what the platform adds around that: "+
		"grpc-gateway or Connect routing and interceptors, request ids, the audit record, metrics, tracing, and the write buffer check.", timeout)

	var buffered atomic.Int64
	sides := map[string]func(context.Context, int) error{
		"baseline": func(ctx context.Context, _ int) error {
			return b.post(ctx, baseURL+"/item/add", addBody, nil)
		},
		"rest": func(ctx context.Context, _ int) error {
			return b.post(ctx, b.s.URL()+"/item/add", addBody, &buffered)
		},
		"rest-noauth": func(ctx context.Context, _ int) error {
			return b.post(ctx, noAuthURL+"/item/add", addBody, &buffered)
		},
		// The Connect protocol's unary JSON call is a POST of the same body
		// to the procedure's path answered 200: the same client code as the
		// other sides, so only the servers differ.
		"connect": func(ctx context.Context, _ int) error {
			return b.postStatus(ctx, b.s.URL()+auctionv1connect.AuctionServiceAddItemProcedure, addBody, http.StatusOK, &buffered)
		},
	}
	rest := &Scenario{Name: "write.rest", Title: "Write POST /item/add, REST: req/s", Metric: "rate", Baseline: baselinePublish,
		Target: 0.8, Goal: "≥ 0.8× baseline"}
	conn := &Scenario{Name: "write.connect", Title: "Write AddItem, Connect unary JSON: req/s", Metric: "rate", Baseline: baselinePublish,
		Goal: "(no target)"}
	auth := &Scenario{Name: "write.auth", Title: "Write POST /item/add, REST, with the API key: req/s", Metric: "rate",
		Baseline: baselineNoAuth, Target: 0.8, Goal: "≥ 0.8× unauthenticated"}
	order := []string{"baseline", "rest", "connect", "rest-noauth"}
	for _, name := range order { // warm-up: connections, producers
		closedLoop(ctx, b.o.Concurrency, min(b.o.Duration/4, time.Second), b.o.MaxRequests, sides[name])
	}
	for r := 1; r <= b.o.Rounds; r++ {
		got := map[string]Sample{}
		for k := range order { // rotate the order each round
			name := order[(k+r-1)%len(order)]
			buffered.Store(0)
			var s Sample
			b.profiled("write-"+name, r, func() { s = closedLoop(ctx, b.o.Concurrency, b.o.Duration, b.o.MaxRequests, sides[name]) })
			if n := buffered.Load(); n > 0 {
				s.Note = strings.TrimPrefix(s.Note+"; "+fmt.Sprintf("%d buffered, not published in %s", n, timeout), "; ")
			}
			got[name] = s
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rest.Rounds = append(rest.Rounds, Round{r, "baseline", got["baseline"]}, Round{r, "platform", got["rest"]})
		conn.Rounds = append(conn.Rounds, Round{r, "baseline", got["baseline"]}, Round{r, "platform", got["connect"]})
		auth.Rounds = append(auth.Rounds, Round{r, "baseline", got["rest-noauth"]}, Round{r, "platform", got["rest"]})
		b.say("write round %d: baseline %.0f/s (p99 %.1f ms, CPU %.0f µs/req), rest %.0f/s (p99 %.1f ms, CPU %.0f µs/req), connect %.0f/s (p99 %.1f ms, CPU %.0f µs/req), "+
			"rest without auth %.0f/s (p99 %.1f ms, CPU %.0f µs/req)",
			r, got["baseline"].Rate, got["baseline"].P99, got["baseline"].CPUUsPerOp, got["rest"].Rate, got["rest"].P99, got["rest"].CPUUsPerOp,
			got["connect"].Rate, got["connect"].P99, got["connect"].CPUUsPerOp, got["rest-noauth"].Rate, got["rest-noauth"].P99, got["rest-noauth"].CPUUsPerOp)
	}
	rest.finish()
	conn.finish()
	auth.finish()
	b.res.add(rest)
	b.res.add(conn)
	b.res.add(auth)
	b.res.Notes = append(b.res.Notes, authCostNote("REST write", auth))
	b.writePeak = rest.Platform.Rate
	return nil
}

// post sends a JSON POST and wants 202; an answer that is not
// WRITE_STATUS_PUBLISHED is counted in buffered.
func (b *bench) post(ctx context.Context, url, body string, buffered *atomic.Int64) error {
	return b.postStatus(ctx, url, body, http.StatusAccepted, buffered)
}

// postStatus is post wanting another status.
func (b *bench) postStatus(ctx context.Context, url, body string, want int, buffered *atomic.Int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("POST: status %d: %s", res.StatusCode, out)
	}
	if buffered != nil && !bytes.Contains(out, []byte("WRITE_STATUS_PUBLISHED")) {
		buffered.Add(1)
	}
	return nil
}

// publishHandler is the write path's baseline.
type publishHandler struct {
	p       *kafkapub.Producer
	topic   string
	v       protovalidate.Validator
	timeout time.Duration
}

const maxBody = 1 << 20 // the dispatcher's MAX_BODY_BYTES default

func (h *publishHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/item/add" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, `{"code":"invalid_argument"}`, http.StatusBadRequest)
		return
	}
	var req auctionv1.AddItemRequest
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &req); err != nil {
		http.Error(w, `{"code":"invalid_argument"}`, http.StatusBadRequest)
		return
	}
	if err := h.v.Validate(&req); err != nil {
		http.Error(w, `{"code":"invalid_argument"}`, http.StatusBadRequest)
		return
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	ev := &eventsv1.ItemAdded{Envelope: envelope(at), Item: newItem(&req, at)}
	m, err := encodeEvent(h.topic, ev.Item.Id, ev.Envelope.EventId, ev)
	if err != nil {
		http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	err = h.p.Publish(ctx, m)
	cancel()
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, context.Canceled) {
			code = 499
		}
		http.Error(w, `{"code":"unavailable"}`, code)
		return
	}
	out, err := protojson.Marshal(&auctionv1.AddItemResponse{ItemId: ev.Item.Id, EventId: ev.Envelope.EventId, WriteStatus: auctionv1.WriteStatus_WRITE_STATUS_PUBLISHED})
	if err != nil {
		http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(out)
}
