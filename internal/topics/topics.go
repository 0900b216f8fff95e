// Package topics names the Kafka topics of the platform and the payload each
// carries, so that the dispatcher (producer) and the workers (consumers) can
// never disagree on them.
package topics

// The event topics, each keyed by item id so that all events of one item stay
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

// Events lists the topics the workers ingest.
var Events = []string{Items, BuyActions, SellActions, PawnActions}

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
