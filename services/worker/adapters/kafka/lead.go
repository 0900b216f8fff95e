package kafka

import (
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The lead topic goes first after an assignment. A worker that starts (or
// gets partitions) behind a backlog would otherwise consume its topics in
// whatever order the broker's fetches return them, often the actions of an
// item before the item: each action then creates the item's document and
// the ItemAdded has to update it, where, first, it is inserted whole (the
// store inserts new items in one bulk insert and updates the rest). On the
// dev stack's database an update costs many times what an insert does. So
// after partitions are assigned, the other topics' partitions (the
// followers) are paused until every lead partition of the assignment is
// within a batch (BatchSize records) of its end, and resumed at once when the lead
// topic is idle for leadIdle (nothing more to read there, or a partition
// that cannot be read): the followers wait at most that long for a lead
// that does not move, and at most leadMaxHold in all. The range assignor gives partition p of every topic
// to the same worker and the dispatcher keys every event by item id, so the
// items an assignment's actions need are in that same assignment.
//
// Only ordering changes: offsets are still stored only after their records
// are, and a follower's records are all consumed once it is resumed.

// leadIdle is how long the followers wait for a lead topic that delivers
// nothing.
const leadIdle = time.Second

// leadMaxHold is the longest the followers wait at all: a lead topic that
// grows as fast as it is read never gets within a batch of its end, and
// the actions must not wait for it forever.
const leadMaxHold = 10 * time.Second

// leadCheckEvery bounds how often the loop checks the lead's progress.
const leadCheckEvery = 20 * time.Millisecond

// lead is the consumer's state of the lead topic.
type lead struct {
	// held are the follower partitions paused until the lead catches up.
	held []kafka.TopicPartition
	// atEnd are the lead partitions that reached their end (a PartitionEOF
	// with no record since).
	atEnd map[int32]bool
	// since is when the hold began; last when a lead record last came.
	since, last, checked time.Time
}

// holdFollowers pauses the follower partitions of a new assignment when it
// also has lead partitions.
func (c *Consumer) holdFollowers(parts []kafka.TopicPartition) {
	if c.cfg.LeadTopic == "" {
		return
	}
	var leads, followers []kafka.TopicPartition
	for _, p := range parts {
		if *p.Topic == c.cfg.LeadTopic {
			leads = append(leads, p)
		} else {
			followers = append(followers, p)
		}
	}
	if len(leads) == 0 || len(followers) == 0 {
		return
	}
	if err := c.c.Pause(followers); err != nil {
		c.log.Warn("cannot hold the other topics while the lead topic catches up", "lead", c.cfg.LeadTopic, "err", err)
		return
	}
	now := time.Now()
	c.lead.held = append(c.lead.held, followers...)
	c.lead.atEnd = map[int32]bool{}
	c.lead.since, c.lead.last = now, now
	c.log.Debug("holding the other topics until the lead topic catches up", "lead", c.cfg.LeadTopic, "held", len(c.lead.held))
}

// leadEvent notes a record or the end of a lead partition.
func (c *Consumer) leadEvent(topic string, part int32, atEnd bool) {
	if topic != c.cfg.LeadTopic || len(c.lead.held) == 0 {
		return
	}
	c.lead.atEnd[part] = atEnd
	if !atEnd {
		c.lead.last = time.Now()
	}
}

// checkLead resumes the held followers once every lead partition of the
// assignment is at or near its end, the lead has been idle for leadIdle,
// or they have been held for leadMaxHold.
func (c *Consumer) checkLead() {
	if len(c.lead.held) == 0 || time.Since(c.lead.checked) < leadCheckEvery {
		return
	}
	c.lead.checked = time.Now()
	why := "caught up"
	switch {
	case time.Since(c.lead.last) >= leadIdle:
		why = "idle"
	case time.Since(c.lead.since) >= leadMaxHold:
		why = "held too long"
	case !c.leadCaughtUp():
		return
	}
	held := c.lead.held
	c.lead.held = nil
	if !c.paused { // else the loop's resume resumes them
		if err := c.c.Resume(held); err != nil {
			c.log.Warn("cannot resume the held partitions", "err", err)
		}
	}
	c.log.Debug("resumed the other topics", "lead", c.cfg.LeadTopic, "why", why, "held_for", time.Since(c.lead.since))
}

// leadCaughtUp reports whether every assigned lead partition is at its end
// or within a batch of it, by the consumer's position and the
// high watermark of its last fetch (both local, no broker call).
func (c *Consumer) leadCaughtUp() bool {
	parts, err := c.c.Assignment()
	if err != nil {
		return false
	}
	var leads []kafka.TopicPartition
	for _, p := range parts {
		if *p.Topic == c.cfg.LeadTopic && !c.lead.atEnd[p.Partition] {
			leads = append(leads, p)
		}
	}
	if len(leads) == 0 {
		return true
	}
	pos, err := c.c.Position(leads)
	if err != nil {
		return false
	}
	within := int64(c.cfg.BatchSize)
	for _, p := range pos {
		_, hi, err := c.c.GetWatermarkOffsets(*p.Topic, p.Partition)
		if err != nil || p.Offset < 0 || hi < 0 || hi-int64(p.Offset) > within {
			return false
		}
	}
	return true
}

// dropHeld forgets revoked partitions.
func (c *Consumer) dropHeld(revoked []kafka.TopicPartition) {
	if len(c.lead.held) == 0 {
		return
	}
	gone := map[partition]bool{}
	for _, p := range revoked {
		gone[partition{*p.Topic, p.Partition}] = true
	}
	kept := c.lead.held[:0]
	for _, p := range c.lead.held {
		if !gone[partition{*p.Topic, p.Partition}] {
			kept = append(kept, p)
		}
	}
	c.lead.held = kept
}
