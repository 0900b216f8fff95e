// Package kafka publishes the dispatcher's audit records to the
// deployment's long_term_storage topic through a bounded queue and a
// producer of their own. Events need no adapter: internal/kafkapub's
// Producer is the app's Broker as it is.
package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/kafkapub"
	"google.golang.org/protobuf/proto"
)

// AuditLog publishes audit records to the long_term_storage topic of its
// deployment ("<CLUSTER_NAME>.long_term_storage") without
// ever delaying or failing the request they describe: Record only enqueues
// into a bounded queue, and a record that finds the queue full is dropped,
// counted and logged.
//
// The queue is drained in batches, every drainEvery, rather than record by
// record: handing each record to a goroutine parked on the queue wakes it,
// and often an idle thread with it (a futex wake and a context switch),
// which cost more CPU than publishing the record (BenchmarkAuditLinger).
// The drain parks only when a round finds nothing queued, and Record wakes
// it then, or when the queue is half full.
//
// It has its own producer, apart from the events', so that its records can
// wait longer to be batched (AUDIT_LINGER) while a write's event is sent at
// once: every request makes an audit record, and a producer that sends
// every few milliseconds costs the dispatcher's machine a produce request,
// its broker round trip and its wake-ups each time. With the broker in the
// process, at 1,500 records/s, the process spends 144-201 µs of CPU per
// record at a 2 ms linger and 44-45 µs at 100 ms (BenchmarkAuditLinger).
type AuditLog struct {
	p      *kafkapub.Producer
	topic  string
	q      chan *eventsv1.AuditRecord
	every  time.Duration // how often drain takes the queued records while they come
	wake   chan struct{} // Record's nudge to a parked or falling-behind drain
	parked atomic.Bool   // drain waits on wake, not on its ticker
	// beforePark, set by tests before Start, runs where drain has found the
	// queue empty and is about to park: the window a lost wake-up falls into.
	beforePark func()
	log        *slog.Logger
	dropped    atomic.Int64
	failed     atomic.Int64
	sent       atomic.Int64
	wg         sync.WaitGroup
	stop       chan struct{}
	once       sync.Once
}

// NewAuditLog returns an audit log publishing to topic (topics.For(name).
// LongTermStorage) with a queue of size records, through a producer of its
// own made with cfg (cfg.OnDelivery, when set, also hears each record's
// delivery); Start runs it, Close flushes and closes it.
func NewAuditLog(cfg kafkapub.Config, topic string, size int, log *slog.Logger) (*AuditLog, error) {
	a := &AuditLog{topic: topic, q: make(chan *eventsv1.AuditRecord, size), every: drainEvery(cfg.Linger),
		wake: make(chan struct{}, 1), log: log, stop: make(chan struct{})}
	also := cfg.OnDelivery
	cfg.OnDelivery = func(topic string, err error) {
		if err != nil {
			a.failed.Add(1)
		} else {
			a.sent.Add(1)
		}
		if also != nil {
			also(topic, err)
		}
	}
	p, err := kafkapub.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	a.p = p
	return a, nil
}

// drainEvery is how often the drain takes the queued records for a
// producer that lingers linger: a tenth of it, within [1ms, 10ms], so the
// batching adds little to the producer's own wait.
func drainEvery(linger time.Duration) time.Duration {
	return min(max(linger/10, time.Millisecond), 10*time.Millisecond)
}

// Record enqueues r, or drops it when the queue is full. It wakes the drain
// only when the drain is parked or the queue is half full.
func (a *AuditLog) Record(r *eventsv1.AuditRecord) {
	select {
	case a.q <- r:
	default:
		a.dropped.Add(1)
		return
	}
	if a.parked.Load() || len(a.q) >= cap(a.q)/2 {
		select {
		case a.wake <- struct{}{}:
		default: // a nudge is already pending
		}
	}
}

// Start drains the queue in the background.
func (a *AuditLog) Start() {
	a.wg.Add(2)
	go a.drain()
	go a.report()
}

// drain publishes what is queued every a.every while records come, parks
// when a round finds none, and publishes the rest when stopped.
func (a *AuditLog) drain() {
	defer a.wg.Done()
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		if a.publishQueued() == 0 {
			if a.beforePark != nil {
				a.beforePark()
			}
			// Park, announced before a last look at the queue: a record
			// enqueued after that look sees parked and wakes the drain.
			a.parked.Store(true)
			select {
			case r := <-a.q:
				a.parked.Store(false)
				a.publish(r)
				continue
			default:
			}
			select {
			case <-a.wake:
				a.parked.Store(false)
				continue
			case <-a.stop:
				a.publishQueued()
				return
			}
		}
		select {
		case <-t.C:
		case <-a.wake:
		case <-a.stop:
			a.publishQueued()
			return
		}
	}
}

// publishQueued publishes the records queued now and returns how many.
func (a *AuditLog) publishQueued() int {
	for n := 0; ; n++ {
		select {
		case r := <-a.q:
			a.publish(r)
		default:
			return n
		}
	}
}

func (a *AuditLog) publish(r *eventsv1.AuditRecord) {
	value, err := proto.Marshal(r)
	if err != nil {
		a.failed.Add(1)
		return
	}
	// No key: a record is one request's, whose id is in the record, and no
	// reader needs two records on one partition. Keyless, a lingering
	// batch goes to one partition (librdkafka's sticky partitioner keeps
	// keyless records on one for twice linger.ms), where keys by request
	// id would spread every batch over all of them: a produce request per
	// partition, and the broker's work for each.
	// The delivery report is counted by the producer's OnDelivery.
	if err := a.p.PublishAsync(kafkapub.Message{Topic: a.topic, Value: value}, nil); err != nil {
		a.failed.Add(1)
	}
}

// report logs drops and failures when they happen, at most every 10 seconds.
func (a *AuditLog) report() {
	defer a.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var lastDropped, lastFailed int64
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		d, f := a.dropped.Load(), a.failed.Load()
		if d != lastDropped || f != lastFailed {
			a.log.Warn("audit records lost", "dropped_queue_full", d, "failed_to_publish", f, "published", a.sent.Load())
			lastDropped, lastFailed = d, f
		}
	}
}

// Dropped is how many records were dropped because the queue was full.
func (a *AuditLog) Dropped() int64 { return a.dropped.Load() }

// Stats returns the counters, for /readyz.
func (a *AuditLog) Stats() map[string]any {
	return map[string]any{"queued": len(a.q), "published": a.sent.Load(), "dropped": a.dropped.Load(), "failed": a.failed.Load()}
}

// Close stops taking records, publishes what is queued, waits for the
// broker to acknowledge it, and closes the producer; it returns when done
// or when ctx ends (what is still unsent then is lost).
func (a *AuditLog) Close(ctx context.Context) {
	a.once.Do(func() { close(a.stop) })
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	a.p.Close(ctx)
}
