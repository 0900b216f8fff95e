// Package topics names the Kafka topics of the platform and the payload each
// carries, so that the dispatcher (producer) and the workers (consumers) can
// never disagree on them.
package topics

import "github.com/pawnshop/auction/internal/clustername"

// The base names of the topics; a deployment's topics are these under its
// name (For). Each event topic is keyed by item id so that all events of one item stay
// in order on one partition.
const (
	// Items carries events.v1.ItemAdded.
	Items = "items"
	// BuyActions carries events.v1.ItemBought.
	BuyActions = "buy-actions"
	// SellActions carries events.v1.ItemSold.
	SellActions = "sell-actions"
	// PawnActions carries events.v1.ItemPawned.
	PawnActions = "pawn-actions"
	// LongTermStorage carries events.v1.AuditRecord, one per API request.
	LongTermStorage = "long_term_storage"
)

// Names are the topics of one deployment: the base names prefixed by its
// CLUSTER_NAME ("auction.items"), so that deployments sharing a Kafka never
// consume each other's events.
type Names struct {
	Items, BuyActions, SellActions, PawnActions, LongTermStorage string
}

// For returns the topics of the deployment n.
func For(n clustername.Name) Names {
	return Names{
		Items:           n.Topic(Items),
		BuyActions:      n.Topic(BuyActions),
		SellActions:     n.Topic(SellActions),
		PawnActions:     n.Topic(PawnActions),
		LongTermStorage: n.Topic(LongTermStorage),
	}
}

// Events lists the topics the workers ingest.
func (t Names) Events() []string {
	return []string{t.Items, t.BuyActions, t.SellActions, t.PawnActions}
}

// All lists every topic the platform creates: the events and the audit log.
func (t Names) All() []string { return append(t.Events(), t.LongTermStorage) }

// DeadLetter names the topic where a worker parks the events of topic t that
// it cannot decode or that fail validation.
func DeadLetter(t string) string { return t + ".dlq" }

// Header names set on every event message.
const (
	// HeaderEventID carries the event id, so that tools can see it without decoding.
	HeaderEventID = "event-id"
	// HeaderType carries the fully qualified protobuf message name of the payload.
	HeaderType = "content-type"
	// HeaderReason carries why a message was dead-lettered.
	HeaderReason = "dlq-reason"
)
