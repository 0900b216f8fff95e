package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pawnshop/auction/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Record is one consumed Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers carry the event id and the trace context of the write.
	Headers map[string]string
}

// Batch is a set of records consumed together.
type Batch []Record

// Store persists documents in bulk, idempotently: a document whose ID is
// already stored is left as it is (the first delivery wins).
type Store interface {
	Save(ctx context.Context, collection string, docs []Document) error
}

// DeadLetters parks poison records with the reason.
type DeadLetters interface {
	DeadLetter(ctx context.Context, r Record, reason string) error
}

// Ingest stores batches of records: decode each through its topic's flow,
// write each collection's documents in one bulk insert, park poison records.
// It returns only when every record is stored or dead-lettered, or ctx ends:
// a transient store failure is retried with backoff, never dead-lettered.
// The caller commits the batch's offsets only after Ingest returned nil.
type Ingest struct {
	flows map[string]Inbound
	store Store
	dlq   DeadLetters
	log   *slog.Logger
	// Backoff bounds the retry delay of a failing store.
	MinBackoff, MaxBackoff time.Duration
}

// NewIngest returns the ingest use case for flows.
func NewIngest(flows []Inbound, store Store, dlq DeadLetters, log *slog.Logger) *Ingest {
	m := make(map[string]Inbound, len(flows))
	for _, f := range flows {
		m[f.Topic()] = f
	}
	return &Ingest{flows: m, store: store, dlq: dlq, log: log, MinBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Topics lists the topics the flows consume.
func (in *Ingest) Topics() []string {
	out := make([]string, 0, len(in.flows))
	for t := range in.flows {
		out = append(out, t)
	}
	return out
}

// Store stores one batch. Each record gets a span in the trace of the write
// that produced it, ended when the batch is stored; the MongoDB write of each
// collection is a span linked to the records it carries.
func (in *Ingest) Store(ctx context.Context, b Batch) (err error) {
	byCollection := map[string][]Document{}
	var order []string
	links := map[string][]trace.Link{}
	spans := make([]trace.Span, 0, len(b))
	defer func() {
		for _, s := range spans {
			if err != nil {
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}()
	for _, r := range b {
		rctx, span := tracer.Start(telemetry.Extract(ctx, r.Headers), "ingest "+r.Topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.source.name", r.Topic),
				attribute.Int("messaging.kafka.partition", int(r.Partition)), attribute.Int64("messaging.kafka.offset", r.Offset)))
		spans = append(spans, span)
		f, ok := in.flows[r.Topic]
		if !ok {
			return fmt.Errorf("no ingest flow for topic %q", r.Topic)
		}
		doc, err := f.Decode(r.Value)
		if err != nil {
			if err := in.deadLetter(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		if _, seen := byCollection[f.Collection()]; !seen {
			order = append(order, f.Collection())
		}
		byCollection[f.Collection()] = append(byCollection[f.Collection()], doc)
		links[f.Collection()] = append(links[f.Collection()], trace.LinkFromContext(rctx))
	}
	for _, coll := range order {
		sctx, span := tracer.Start(ctx, "mongodb insert "+coll, trace.WithLinks(links[coll]...),
			trace.WithAttributes(attribute.String("db.system", "mongodb"), attribute.String("db.collection.name", coll),
				attribute.Int("db.operation.batch.size", len(byCollection[coll]))))
		err := in.retry(sctx, "store "+coll, func() error { return in.store.Save(sctx, coll, dedupe(byCollection[coll])) })
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err != nil {
			return err
		}
	}
	return nil
}

var tracer = otel.Tracer("github.com/pawnshop/auction/services/worker/app")

// dedupe keeps the first document of each id in a batch, the same rule the
// store applies across batches (the first delivery wins).
func dedupe(docs []Document) []Document {
	seen := make(map[string]bool, len(docs))
	out := docs[:0:0]
	for _, d := range docs {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

func (in *Ingest) deadLetter(ctx context.Context, r Record, cause error) error {
	if !errors.Is(cause, ErrPoison) {
		return cause
	}
	in.log.Warn("dead-lettering a record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", cause)
	return in.retry(ctx, "dead-letter", func() error { return in.dlq.DeadLetter(ctx, r, cause.Error()) })
}

// retry runs op until it succeeds or ctx ends, backing off exponentially.
func (in *Ingest) retry(ctx context.Context, what string, op func() error) error {
	delay := in.MinBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		in.log.Warn("ingest step failed; retrying", "step", what, "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %w)", what, context.Cause(ctx), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, in.MaxBackoff)
	}
}
