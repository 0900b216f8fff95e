package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/services/worker/app"
)

// partition names a topic partition.
type partition struct {
	topic string
	part  int32
}

// extent is what a batch holds of one partition: its first offset, the
// offset after its last record, and how many records.
type extent struct {
	first, next int64
	n           int
}

// slot is a prepared batch on its way through the writer.
type slot struct {
	batch app.Batch
	prep  *app.Prepared
	// parts are the partitions whose offsets are stored once the batch is
	// written; a partition lost meanwhile is removed (its next owner has it).
	parts  map[partition]*extent
	ctx    context.Context
	cancel context.CancelFunc
	err    error
	// discard: an earlier batch failed and was rewound with this one, so
	// this one's outcome is ignored.
	discard bool
}

// extents maps each partition of b to what b holds of it.
func extents(b app.Batch) map[partition]*extent {
	m := map[partition]*extent{}
	for _, r := range b {
		k := partition{r.Topic, r.Partition}
		e, ok := m[k]
		if !ok {
			e = &extent{first: r.Offset, next: r.Offset + 1}
			m[k] = e
		}
		e.first, e.next = min(e.first, r.Offset), max(e.next, r.Offset+1)
		e.n++
	}
	return m
}

// pipeline is the writer goroutine and the batches handed to it, oldest
// first: one being written and at most one waiting. Writes finish in the
// order they were handed over.
type pipeline struct {
	jobs        chan *slot
	results     chan *slot
	outstanding []*slot
	// base is the parent of every write's context: it does not end with
	// Run's context (a write in flight at shutdown is finished by Drain),
	// only when Close aborts.
	base   context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// depth is how many batches the pipeline holds: one written, one waiting.
const depth = 2

func newPipeline(store Storer) *pipeline {
	base, cancel := context.WithCancel(context.Background())
	p := &pipeline{jobs: make(chan *slot, depth-1), results: make(chan *slot, depth), base: base, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for s := range p.jobs {
			s.err = store.Write(s.ctx, s.prep)
			p.results <- s
		}
	}()
	return p
}

func (p *pipeline) hasRoom() bool { return len(p.outstanding) < depth }

// send hands a prepared batch to the writer; it never blocks (hasRoom).
func (p *pipeline) send(b app.Batch, prep *app.Prepared) {
	ctx, cancel := context.WithCancel(p.base)
	s := &slot{batch: b, prep: prep, parts: extents(b), ctx: ctx, cancel: cancel}
	p.outstanding = append(p.outstanding, s)
	p.jobs <- s
}

// pop removes s, the oldest batch, once its result arrived.
func (p *pipeline) pop(s *slot) {
	if len(p.outstanding) == 0 || p.outstanding[0] != s {
		panic("kafka consumer: write results out of order")
	}
	p.outstanding = p.outstanding[1:]
	s.cancel()
}

// abort ends every write, running or to come.
func (p *pipeline) abort() { p.cancel() }

// stop ends the writer goroutine; call it after abort, once nothing more is
// sent.
func (p *pipeline) stop() {
	close(p.jobs)
	for len(p.outstanding) > 0 {
		p.pop(<-p.results)
	}
	<-p.done
}

// dispatch prepares the pending batch and hands it to the writer. A batch
// that cannot be prepared (ctx ended, dead-letter topic unreachable) is
// rewound and consumed again.
func (c *Consumer) dispatch(ctx context.Context) error {
	b := c.pending
	c.pending = nil
	prep, err := c.store.Prepare(ctx, b)
	if err != nil {
		c.log.Warn("batch not prepared; it will be consumed again", "records", len(b), "err", err)
		c.rewind(extents(b))
		return fmt.Errorf("prepare batch: %w", err)
	}
	c.pipe.send(b, prep)
	return nil
}

// collect handles the writes that finished, without waiting.
func (c *Consumer) collect() {
	for {
		select {
		case s := <-c.pipe.results:
			_ = c.finish(s) // logged; a failed batch is consumed again
		default:
			return
		}
	}
}

// errFrozen: BeforeCommit failed once; no offset is stored any more.
var errFrozen = errors.New("offsets frozen after BeforeCommit failed")

// finish handles the result of the oldest write: stores its offsets, or on
// failure rewinds it with every batch held after it.
func (c *Consumer) finish(s *slot) error {
	c.pipe.pop(s)
	if s.discard {
		return nil
	}
	if c.frozen {
		return errFrozen
	}
	err := s.err
	if err == nil && c.BeforeCommit != nil {
		if err := c.BeforeCommit(s.batch); err != nil {
			c.log.Warn("offsets no longer stored: BeforeCommit failed", "err", err)
			c.frozen = true
			return fmt.Errorf("before commit: %w", err)
		}
	}
	if err != nil {
		c.log.Warn("batch not stored; it and the batches after it will be consumed again", "records", len(s.batch), "err", err)
		c.fail(s)
		return fmt.Errorf("write batch: %w", err)
	}
	c.storeOffsets(s)
	c.observe(s)
	return nil
}

// fail drops s and everything held after it (the other batches in the
// pipeline are ignored when their writes end) and rewinds their partitions,
// so no offset is ever stored ahead of a record not stored.
func (c *Consumer) fail(s *slot) {
	first := map[partition]*extent{}
	add := func(m map[partition]*extent) {
		for k, e := range m {
			if f, ok := first[k]; !ok || f.first > e.first {
				first[k] = e
			}
		}
	}
	add(s.parts)
	for _, o := range c.pipe.outstanding {
		o.discard = true
		add(o.parts)
	}
	add(extents(c.pending))
	c.pending = nil
	c.rewind(first)
}

// rewind moves the consumer back to the first record of each partition in
// parts that is still assigned, so those records are consumed (and,
// idempotently, stored) again. Partitions that were revoked restart from
// their committed offset at their next owner.
func (c *Consumer) rewind(parts map[partition]*extent) {
	c.resume()
	for k, e := range parts {
		topic := k.topic
		p := kafka.TopicPartition{Topic: &topic, Partition: k.part, Offset: kafka.Offset(e.first)}
		if err := c.c.Seek(p, 0); err != nil {
			c.log.Debug("cannot rewind a partition; its next owner starts from its committed offset",
				"topic", topic, "partition", k.part, "err", err)
		}
	}
}

// storeOffsets stores, per partition, the offset after the batch's last
// record; librdkafka commits it within auto.commit.interval.ms.
func (c *Consumer) storeOffsets(s *slot) {
	if len(s.parts) == 0 {
		return
	}
	offsets := make([]kafka.TopicPartition, 0, len(s.parts))
	for k, e := range s.parts {
		topic := k.topic
		offsets = append(offsets, kafka.TopicPartition{Topic: &topic, Partition: k.part, Offset: kafka.Offset(e.next)})
	}
	if _, err := c.c.StoreOffsets(offsets); err != nil {
		c.log.Warn("cannot store offsets of a written batch; its records may be consumed again", "err", err)
	}
}

// flushAll writes everything held: the pending batch is prepared and
// handed over as soon as the pipeline has room, and every write is waited
// for. When ctx ends, the writes still running are abandoned (and their
// records rewound).
func (c *Consumer) flushAll(ctx context.Context) error {
	var errs []error
	done := ctx.Done()
	for {
		if len(c.pending) > 0 && c.pipe.hasRoom() && ctx.Err() == nil {
			errs = append(errs, c.dispatch(ctx))
			continue
		}
		if len(c.pipe.outstanding) == 0 {
			break
		}
		select {
		case s := <-c.pipe.results:
			errs = append(errs, c.finish(s))
		case <-done:
			for _, s := range c.pipe.outstanding {
				s.cancel()
			}
			done = nil
		}
	}
	if len(c.pending) > 0 {
		c.rewind(extents(c.pending))
		errs = append(errs, fmt.Errorf("%d records not stored: %w", len(c.pending), context.Cause(ctx)))
		c.pending = nil
	}
	return errors.Join(errs...)
}

// commitSync commits the stored offsets now.
func (c *Consumer) commitSync() error {
	if _, err := c.c.Commit(); err != nil {
		if kerr, ok := errors.AsType[kafka.Error](err); ok && kerr.Code() == kafka.ErrNoOffset {
			return nil
		}
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// pause stops fetching on every assigned partition, so that polling while
// the writer is behind serves rebalances without taking more records.
// Records fetched but not delivered are fetched again on resume.
func (c *Consumer) pause() {
	if c.paused {
		return
	}
	parts, err := c.c.Assignment()
	if err == nil {
		err = c.c.Pause(parts)
	}
	if err != nil {
		c.log.Debug("cannot pause partitions", "err", err)
		return
	}
	c.paused = true
}

func (c *Consumer) resume() {
	if !c.paused {
		return
	}
	parts, err := c.c.Assignment()
	if err == nil {
		err = c.c.Resume(parts)
	}
	if err != nil {
		c.log.Warn("cannot resume partitions", "err", err)
		return
	}
	if len(c.lead.held) > 0 { // still waiting for the lead topic
		if err := c.c.Pause(c.lead.held); err != nil {
			c.log.Warn("cannot hold partitions again", "err", err)
		}
	}
	c.paused = false
}
