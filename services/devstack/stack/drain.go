package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultKafkaRetentionBytes bounds each partition of the embedded broker's
// log (Config.KafkaRetentionBytes): 64 MiB, some 100,000 events per
// partition, far more than the workers ever lag behind in development, so
// retention only ever deletes what was stored long ago, and a dev stack
// left running for weeks keeps at most 64 MiB × partitions × topics on disk.
const DefaultKafkaRetentionBytes = 64 << 20

// storedMetric is the workers' counter of records stored and committed.
const storedMetric = "auction_worker_records_committed_total"

// drain is the first step of Close, so that a Ctrl-C loses no write the API
// acknowledged: it stops the public listener (new calls are refused, those
// in flight finish: every 202 is then in the broker or in the write
// buffer), waits until the write buffer is replayed to the broker and the
// workers' consumer group has committed everything on the event topics
// (the workers commit after storing), bounded by Config.DrainTimeout, and
// logs one line saying how many events were stored meanwhile. A drain cut
// short leaves the rest in the broker's log, stored after the next start
// when the broker keeps its log (a data directory).
func (s *Stack) drain(ctx context.Context) error {
	start := time.Now()
	storedBefore := s.stored()
	if err := s.server.Stop(ctx); err != nil {
		return fmt.Errorf("drain: stop the API listener: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	waiting, err := s.waitDrained(ctx)
	stored := s.stored() - storedBefore
	took := time.Since(start).Round(time.Millisecond)
	if err == nil {
		s.log.Info(fmt.Sprintf("drained: %d events stored while stopping, none left", stored), "took", took)
		return nil
	}
	where := "they stay in the broker's log and are stored after the next start on the same data directory"
	if s.kafka != nil && s.kafka.DataDir() == "" {
		where = "they are lost: the embedded broker has no data directory"
	}
	s.log.Warn(fmt.Sprintf("drain cut short after %s: %d events stored while stopping, %s not stored yet; %s", took, stored, waiting, where), "err", err)
	return nil
}

// waitDrained polls the write buffer and the consumer group's lag until
// both are zero; it returns what still waits when ctx ends first.
func (s *Stack) waitDrained(ctx context.Context) (string, error) {
	s.mu.Lock()
	group := s.group
	s.mu.Unlock()
	if group != "" {
		// s.group is the workers' KAFKA_GROUP; the group they join is
		// under the deployment's name.
		group = s.clusterName().Group(group)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		return "all", fmt.Errorf("kafka admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waiting := "an unknown number"
	for {
		// Without workers nothing would lower the lag: only the write
		// buffer is waited for.
		withWorkers := group != "" && len(s.Workers()) > 0
		depth, lag, err := s.pending(ctx, adm, group, withWorkers)
		if err == nil {
			waiting = fmt.Sprintf("%d in the write buffer and %d in the event topics", depth, lag)
			if depth == 0 && lag == 0 {
				return "", nil
			}
		}
		select {
		case <-ctx.Done():
			return waiting, errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pending is the write buffer's depth and, withLag, the workers' group's lag
// on the event topics: end offset minus committed offset (minus the log start
// where nothing is committed yet), summed over the partitions.
func (s *Stack) pending(ctx context.Context, adm *kadm.Client, group string, withLag bool) (depth, lag int64, err error) {
	if s.buffer != nil {
		if depth, _, err = s.buffer.Depth(ctx); err != nil {
			return 0, 0, err
		}
	}
	if !withLag {
		return depth, 0, nil
	}
	events := topics.For(s.clusterName()).Events()
	ends, err := adm.ListEndOffsets(ctx, events...)
	if err != nil {
		return 0, 0, fmt.Errorf("end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, events...)
	if err != nil {
		return 0, 0, fmt.Errorf("start offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	var errs []error
	ends.Each(func(end kadm.ListedOffset) {
		if end.Err != nil {
			errs = append(errs, end.Err)
			return
		}
		from := int64(0)
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= 0 {
			from = c.At
		} else if st, ok := starts.Lookup(end.Topic, end.Partition); ok && st.Err == nil {
			from = st.Offset
		}
		lag += max(end.Offset-from, 0)
	})
	return depth, lag, errors.Join(errs...)
}

// stored is how many records the workers have stored and committed since
// the stack started, from their metrics.
func (s *Stack) stored() int64 {
	families, err := s.metrics.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, f := range families {
		if f.GetName() != storedMetric {
			continue
		}
		for _, m := range f.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return int64(n)
}

// clusterName is the deployment name of the stack's services, whose topics
// and consumer group the drain watches.
func (s *Stack) clusterName() clustername.Name { return s.cfg.ClusterName }
