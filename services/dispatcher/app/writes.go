package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Event is an accepted write on its way to its topic.
type Event struct {
	Topic   string
	Key     string // the item id: all events of one item share a partition
	ID      string
	Payload proto.Message
}

// WriteStatus says where a write was made durable.
type WriteStatus int

// The outcomes of a successful publish.
const (
	Published WriteStatus = iota + 1 // the broker acknowledged the event
	Buffered                         // the write buffer holds it for replay
)

// Publisher makes an event durable. It returns ErrPublishUnavailable (wrapped)
// when it could not.
type Publisher interface {
	Publish(ctx context.Context, e Event) (WriteStatus, error)
}

// Receipt is the answer to an accepted write.
type Receipt struct {
	ItemID  string
	EventID string
	Status  WriteStatus
}

// Screen tells whether a client is on the fraud list. It must answer from
// memory: it runs on every action.
type Screen interface {
	Flagged(clientID string) bool
}

// IDClaims remembers, for every item id a client chose, the fingerprint of
// the request that first claimed it, shared by every dispatcher: it is what
// tells a retry (the same body) from a second item under the same id.
type IDClaims interface {
	// Claim claims id for the request with fingerprint, atomically, unless
	// it is claimed already; it returns the fingerprint holding the id
	// (fingerprint itself for a new claim) and whether this call made the
	// claim.
	Claim(ctx context.Context, id, fingerprint string) (holder string, made bool, err error)
	// Release drops the claim of id if fingerprint holds it: the write it
	// was made for was not accepted.
	Release(ctx context.Context, id, fingerprint string) error
}

// Writes turns write requests into events and publishes them.
type Writes struct {
	topics topics.Names
	pub    Publisher
	screen Screen
	claims IDClaims
	now    func() time.Time
}

// NewWrites returns the write use cases, publishing to the deployment's
// topics t.
func NewWrites(t topics.Names, pub Publisher, screen Screen, claims IDClaims) *Writes {
	return &Writes{topics: t, pub: pub, screen: screen, claims: claims, now: time.Now}
}

// admit refuses actions by clients on the fraud list.
func (w *Writes) admit(clientID string) error {
	if w.screen.Flagged(clientID) {
		return fmt.Errorf("client %q: %w", clientID, ErrFraudulentClient)
	}
	return nil
}

// acceptedAt is the accept time of a write, at millisecond precision: the
// precision MongoDB keeps, so stored events read back exactly.
func (w *Writes) acceptedAt() time.Time { return w.now().UTC().Truncate(time.Millisecond) }

func envelope(ctx context.Context, at time.Time) *eventsv1.Envelope {
	rid := requestid.FromContext(ctx)
	if rid == "" {
		rid = requestid.New()
	}
	return &eventsv1.Envelope{EventId: newEventID(), AcceptedAt: timestamppb.New(at), RequestId: rid}
}

// newEventID returns a time-ordered UUIDv7, so ids sort roughly by acceptance.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// dateOr returns the client's date at millisecond precision, or at when absent.
func dateOr(d *timestamppb.Timestamp, at time.Time) *timestamppb.Timestamp {
	if d == nil {
		return timestamppb.New(at)
	}
	return timestamppb.New(d.AsTime().Truncate(time.Millisecond))
}

func (w *Writes) publish(ctx context.Context, e Event, itemID string) (Receipt, error) {
	st, err := w.pub.Publish(ctx, e)
	if err != nil {
		return Receipt{}, fmt.Errorf("publish %s event %s: %w", e.Topic, e.ID, err)
	}
	return Receipt{ItemID: itemID, EventID: e.ID, Status: st}, nil
}

// AddItem accepts a new item, assigning its id when the request has none.
//
// A client-chosen id is claimed first (claimID): an id another body holds
// is refused with an *ItemExistsError; the same body again is a retry and
// is accepted again, its event published again (the worker keeps the item
// of the first event it stores and skips the others), so a retry after a
// lost answer or a dispatcher crash between claim and publish is never
// lost. A generated id is new by construction and needs no claim.
func (w *Writes) AddItem(ctx context.Context, req *auctionv1.AddItemRequest) (Receipt, error) {
	var fingerprint string
	var made bool
	if id := req.GetId(); id != "" {
		var err error
		if fingerprint, made, err = w.claimID(ctx, req); err != nil {
			return Receipt{}, err
		}
	}
	at := w.acceptedAt()
	ev := &eventsv1.ItemAdded{Envelope: envelope(ctx, at), Item: itemFromRequest(req, at)}
	r, err := w.publish(ctx, Event{Topic: w.topics.Items, Key: ev.Item.Id, ID: ev.Envelope.EventId, Payload: ev}, ev.Item.Id)
	if err != nil && made {
		// Nothing was accepted: another body may take the id. Only a claim
		// this call made: a retry's failure must not free the id of an add
		// accepted before. Best effort: a claim left behind only turns that
		// other body's add into a 409.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if rerr := w.claims.Release(rctx, req.GetId(), fingerprint); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release the claim of item id %q: %w", req.GetId(), rerr))
		}
	}
	return r, err
}

// claimID claims the request's item id for its fingerprint; it returns the
// fingerprint and whether the claim is new, or an *ItemExistsError when
// another body holds the id, or ErrClaimUnavailable (wrapped) when the
// claims cannot be reached.
func (w *Writes) claimID(ctx context.Context, req *auctionv1.AddItemRequest) (string, bool, error) {
	fingerprint, err := Fingerprint(req)
	if err != nil {
		return "", false, err
	}
	holder, made, err := w.claims.Claim(ctx, req.GetId(), fingerprint)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("claim item id %q: %w: %w", req.GetId(), ErrClaimUnavailable, err)
	case holder != fingerprint:
		return "", false, &ItemExistsError{ID: req.GetId()}
	}
	return fingerprint, made, nil
}

// Fingerprint is the SHA-256 (hex) of the request's deterministic protobuf
// encoding: the same for the same request whatever protocol, JSON spelling
// (field order, enum names, whitespace) or codec carried it.
func Fingerprint(req *auctionv1.AddItemRequest) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("fingerprint the add request: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// BuyItem accepts a buy.
func (w *Writes) BuyItem(ctx context.Context, req *auctionv1.BuyItemRequest) (Receipt, error) {
	if err := w.admit(req.GetClientId()); err != nil {
		return Receipt{}, err
	}
	at := w.acceptedAt()
	ev := &eventsv1.ItemBought{Envelope: envelope(ctx, at), Buy: buyFromRequest(req, at)}
	return w.publish(ctx, Event{Topic: w.topics.BuyActions, Key: req.ItemId, ID: ev.Envelope.EventId, Payload: ev}, req.ItemId)
}

// SellItem accepts a sale.
func (w *Writes) SellItem(ctx context.Context, req *auctionv1.SellItemRequest) (Receipt, error) {
	if err := w.admit(req.GetClientId()); err != nil {
		return Receipt{}, err
	}
	at := w.acceptedAt()
	ev := &eventsv1.ItemSold{Envelope: envelope(ctx, at), Sell: sellFromRequest(req, at)}
	return w.publish(ctx, Event{Topic: w.topics.SellActions, Key: req.ItemId, ID: ev.Envelope.EventId, Payload: ev}, req.ItemId)
}

// PawnItem accepts a pawn.
func (w *Writes) PawnItem(ctx context.Context, req *auctionv1.PawnItemRequest) (Receipt, error) {
	if err := w.admit(req.GetClientId()); err != nil {
		return Receipt{}, err
	}
	at := w.acceptedAt()
	ev := &eventsv1.ItemPawned{Envelope: envelope(ctx, at), Pawn: pawnFromRequest(req, at)}
	return w.publish(ctx, Event{Topic: w.topics.PawnActions, Key: req.ItemId, ID: ev.Envelope.EventId, Payload: ev}, req.ItemId)
}

// itemFromRequest builds the stored item from an add request accepted at at;
// an empty id gets a new one.
func itemFromRequest(req *auctionv1.AddItemRequest, at time.Time) *auctionv1.Item {
	id := req.GetId()
	if id == "" {
		id = newEventID()
	}
	return &auctionv1.Item{
		Id:         id,
		Name:       req.GetName(),
		Category:   req.GetCategory(),
		PriceCents: req.GetPriceCents(),
		State:      req.GetState(),
		AgeMonths:  req.GetAgeMonths(),
		CreatedAt:  timestamppb.New(at),
	}
}

// buyFromRequest builds the buy action of a request accepted at at.
func buyFromRequest(req *auctionv1.BuyItemRequest, at time.Time) *auctionv1.Buy {
	return &auctionv1.Buy{
		ClientId:   req.GetClientId(),
		ItemId:     req.GetItemId(),
		PriceCents: req.GetPriceCents(),
		Date:       dateOr(req.GetDate(), at),
	}
}

// sellFromRequest builds the sell action of a request accepted at at.
func sellFromRequest(req *auctionv1.SellItemRequest, at time.Time) *auctionv1.Sell {
	return &auctionv1.Sell{
		ClientId:    req.GetClientId(),
		ItemId:      req.GetItemId(),
		PriceCents:  req.GetPriceCents(),
		Date:        dateOr(req.GetDate(), at),
		ProfitCents: req.GetProfitCents(),
	}
}

// pawnFromRequest builds the pawn action of a request accepted at at.
func pawnFromRequest(req *auctionv1.PawnItemRequest, at time.Time) *auctionv1.Pawn {
	return &auctionv1.Pawn{
		ClientId:   req.GetClientId(),
		ItemId:     req.GetItemId(),
		PriceCents: req.GetPriceCents(),
		TaxCents:   req.GetTaxCents(),
		Date:       dateOr(req.GetDate(), at),
		LimitDays:  req.GetLimitDays(),
	}
}
