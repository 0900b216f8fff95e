package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
)

// memClaims is IDClaims in memory; err, when set, fails every call.
type memClaims struct {
	mu       sync.Mutex
	held     map[string]string
	claims   int
	released []string
	err      error
}

func newMemClaims() *memClaims { return &memClaims{held: map[string]string{}} }

func (c *memClaims) Claim(_ context.Context, id, fingerprint string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims++
	if c.err != nil {
		return "", false, c.err
	}
	if h, ok := c.held[id]; ok {
		return h, false, nil
	}
	c.held[id] = fingerprint
	return fingerprint, true, nil
}

func (c *memClaims) Release(_ context.Context, id, fingerprint string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.held[id] == fingerprint {
		delete(c.held, id)
		c.released = append(c.released, id)
	}
	return nil
}

func lamp(id string, price int64) *auctionv1.AddItemRequest {
	return &auctionv1.AddItemRequest{Id: id, Name: "lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
		PriceCents: price, State: auctionv1.State_STATE_NEW}
}

func claimWrites(pub Publisher, claims IDClaims) *Writes {
	w := NewWrites(testTopics, pub, fraudList{}, claims)
	w.now = func() time.Time { return clockAt }
	return w
}

func TestReAddingAnIDWithAnotherBodyIsRefusedNamingTheID(t *testing.T) {
	pub := &recordingPublisher{status: Published}
	w := claimWrites(pub, newMemClaims())
	ctx := context.Background()
	if _, err := w.AddItem(ctx, lamp("lamp-1", 100)); err != nil {
		t.Fatal(err)
	}
	_, err := w.AddItem(ctx, lamp("lamp-1", 200))
	var exists *ItemExistsError
	if !errors.Is(err, ErrAlreadyExists) || !errors.As(err, &exists) || exists.ID != "lamp-1" {
		t.Fatalf("second add with another body: %v, want ItemExistsError for lamp-1", err)
	}
	if !strings.Contains(exists.ClientMessage(), `"lamp-1"`) {
		t.Errorf("message %q does not name the id", exists.ClientMessage())
	}
	if len(pub.events) != 1 {
		t.Errorf("%d events published, want 1 (the refused add publishes nothing)", len(pub.events))
	}
}

func TestReAddingTheSameBodyIsAnIdempotentRetryThatPublishesAgain(t *testing.T) {
	pub := &recordingPublisher{status: Published}
	w := claimWrites(pub, newMemClaims())
	ctx := context.Background()
	first, err := w.AddItem(ctx, lamp("lamp-1", 100))
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.AddItem(ctx, lamp("lamp-1", 100))
	if err != nil {
		t.Fatalf("retry with the same body: %v, want the same success", err)
	}
	if again.ItemID != first.ItemID || again.Status != first.Status {
		t.Errorf("retry answered %+v, first %+v: want the same item and status", again, first)
	}
	// Published again: the first event may never have reached the broker
	// (a crash between claim and publish); the worker keeps the first stored.
	if len(pub.events) != 2 || pub.events[1].Payload.(*eventsv1.ItemAdded).GetItem().GetId() != "lamp-1" {
		t.Errorf("events %v, want the item event twice", pub.events)
	}
}

func TestGeneratedIDsNeedNoClaim(t *testing.T) {
	claims := newMemClaims()
	claims.err = errors.New("redis down")
	w := claimWrites(&recordingPublisher{status: Published}, claims)
	if _, err := w.AddItem(context.Background(), lamp("", 100)); err != nil {
		t.Fatalf("add without an id while the claims are down: %v", err)
	}
	if claims.claims != 0 {
		t.Errorf("%d claims for a generated id, want none", claims.claims)
	}
}

func TestAnAddWithAnIDIsRefusedRetryablyWhenClaimsAreDown(t *testing.T) {
	claims := newMemClaims()
	claims.err = errors.New("redis down")
	pub := &recordingPublisher{status: Published}
	_, err := claimWrites(pub, claims).AddItem(context.Background(), lamp("lamp-1", 100))
	if !errors.Is(err, ErrClaimUnavailable) {
		t.Fatalf("add while the claims are down: %v, want ErrClaimUnavailable", err)
	}
	if len(pub.events) != 0 {
		t.Errorf("%d events published, want none", len(pub.events))
	}
}

func TestAClaimIsReleasedWhenTheWriteWasNotAccepted(t *testing.T) {
	claims := newMemClaims()
	pub := &recordingPublisher{err: ErrPublishUnavailable}
	w := claimWrites(pub, claims)
	ctx := context.Background()
	if _, err := w.AddItem(ctx, lamp("lamp-1", 100)); !errors.Is(err, ErrPublishUnavailable) {
		t.Fatalf("add while nothing is durable: %v", err)
	}
	if len(claims.released) != 1 {
		t.Fatalf("released %v, want lamp-1", claims.released)
	}
	pub.err = nil
	if _, err := w.AddItem(ctx, lamp("lamp-1", 200)); err != nil {
		t.Fatalf("another body for an id never accepted: %v, want accepted", err)
	}
}

func TestFingerprintIgnoresHowTheRequestWasSpelled(t *testing.T) {
	a, err := Fingerprint(lamp("lamp-1", 100))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Fingerprint(&auctionv1.AddItemRequest{State: auctionv1.State_STATE_NEW, PriceCents: 100,
		Category: auctionv1.Category_CATEGORY_DECORATION, Name: "lamp", Id: "lamp-1"})
	c, _ := Fingerprint(lamp("lamp-1", 101))
	if a != b || a == c || len(a) != 64 {
		t.Errorf("fingerprints %s %s %s: want the first two equal, the third different, 64 hex digits", a, b, c)
	}
}

func TestAFailedRetryKeepsTheClaimOfAnAcceptedAdd(t *testing.T) {
	claims := newMemClaims()
	pub := &recordingPublisher{status: Published}
	w := claimWrites(pub, claims)
	ctx := context.Background()
	if _, err := w.AddItem(ctx, lamp("lamp-1", 100)); err != nil {
		t.Fatal(err)
	}
	pub.err = ErrPublishUnavailable
	if _, err := w.AddItem(ctx, lamp("lamp-1", 100)); !errors.Is(err, ErrPublishUnavailable) {
		t.Fatalf("retry while nothing is durable: %v", err)
	}
	pub.err = nil
	if _, err := w.AddItem(ctx, lamp("lamp-1", 200)); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("another body after a failed retry of an accepted add: %v, want already_exists", err)
	}
}
