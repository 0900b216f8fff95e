package kafka

import (
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rebalance applies assignments (incrementally under a cooperative
// assignor, whole under an eager one). Before partitions are revoked, every
// batch held is written, its offsets stored and committed synchronously, so
// the next owner starts right after them; on Close, Drain has done that
// already. Lost partitions are dropped from what is held: their next owner
// already consumes them, and storing is idempotent.
func (c *Consumer) rebalance(_ *kafka.Consumer, ev kafka.Event) error {
	cooperative := c.c.GetRebalanceProtocol() == "COOPERATIVE"
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		c.log.Info("partitions assigned", "count", len(e.Partitions))
		if !cooperative {
			if err := c.c.Assign(e.Partitions); err != nil {
				return err
			}
		} else if err := c.c.IncrementalAssign(e.Partitions); err != nil {
			return err
		}
		c.applyPause(e.Partitions)
		c.holdFollowers(e.Partitions)
		return nil
	case kafka.RevokedPartitions:
		c.dropHeld(e.Partitions)
		lost := c.c.AssignmentLost()
		c.log.Info("partitions revoked", "count", len(e.Partitions), "lost", lost)
		switch {
		case lost:
			c.dropPartitions(e.Partitions)
		case c.closing.Load():
			// The last revocation, from Close leaving the group (leave).
			// Drain has already written, stored and committed what was
			// held (Close aborted whatever came after), and a commit in
			// the revocation of a closing consumer can block for good
			// (confluent-kafka-go issue 1062; a worker's stop hung in it,
			// TestDispatcherRestart under load).
			c.dropPartitions(e.Partitions)
		default:
			err := c.flushAll(c.ctx)
			if err == nil {
				err = c.commitSync()
			}
			if err != nil {
				c.log.Warn("could not store and commit everything before revocation; records will be consumed again", "err", err)
				c.dropPartitions(e.Partitions)
			}
		}
		if cooperative {
			return c.c.IncrementalUnassign(e.Partitions)
		}
		return c.c.Unassign()
	}
	return nil
}

// dropPartitions forgets the pending records of parts and keeps the
// batches in the pipeline from storing offsets of parts.
func (c *Consumer) dropPartitions(parts []kafka.TopicPartition) {
	gone := map[partition]bool{}
	for _, p := range parts {
		gone[partition{*p.Topic, p.Partition}] = true
	}
	kept := c.pending[:0]
	for _, r := range c.pending {
		if !gone[partition{r.Topic, r.Partition}] {
			kept = append(kept, r)
		}
	}
	c.pending = kept
	for _, s := range c.pipe.outstanding {
		for k := range gone {
			delete(s.parts, k)
		}
	}
}

// applyPause gives newly assigned partitions the loop's pause state.
// librdkafka remembers that the application paused a partition even while
// it is not assigned: a partition paused, revoked and assigned again (an
// eager rebalance revokes and reassigns everything) stays paused unless
// resumed, and the loop, which pauses and resumes its whole assignment,
// would never fetch from it again (TestTwoMembersConsumeEveryTopic).
func (c *Consumer) applyPause(parts []kafka.TopicPartition) {
	if len(parts) == 0 {
		return
	}
	var err error
	if c.paused {
		// The loop is waiting for the writer: fetch nothing yet.
		err = c.c.Pause(parts)
	} else {
		err = c.c.Resume(parts)
	}
	if err != nil {
		c.log.Warn("cannot set the pause state of newly assigned partitions", "paused", c.paused, "err", err)
	}
}
