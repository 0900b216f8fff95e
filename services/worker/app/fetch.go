package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
)

// ErrNotFound: no item has the requested id.
var ErrNotFound = errors.New("item not found")

// ErrBadPageToken: the page token was not issued by a worker.
var ErrBadPageToken = errors.New("invalid page token")

// Filter selects items by exactly one typed field. Values are compared
// literally: they are never parsed as query operators.
type Filter struct {
	Name     string
	Category auctionv1.Category
	State    auctionv1.State
}

// ItemReader reads items with their history from storage. Items returns
// items matching f with id greater than after, ordered by id, at most limit.
type ItemReader interface {
	Item(ctx context.Context, id string) (*auctionv1.ItemWithHistory, error)
	Items(ctx context.Context, f Filter, after string, limit int) ([]*auctionv1.ItemWithHistory, error)
}

// Fetch serves the dispatcher's reads.
type Fetch struct {
	r ItemReader
}

// NewFetch returns the fetch use cases.
func NewFetch(r ItemReader) *Fetch { return &Fetch{r: r} }

// Item returns one item with its history, or ErrNotFound.
func (f *Fetch) Item(ctx context.Context, id string) (*auctionv1.ItemWithHistory, error) {
	return f.r.Item(ctx, id)
}

// Page is one page of a listing.
type Page struct {
	Items []*auctionv1.ItemWithHistory
	Next  string
}

// Items returns one page of items matching filter. Pages are ordered by item
// id; the token is the last id of the previous page, opaque to clients.
func (f *Fetch) Items(ctx context.Context, filter Filter, limit int, token string) (Page, error) {
	after, err := decodePageToken(token)
	if err != nil {
		return Page{}, err
	}
	items, err := f.r.Items(ctx, filter, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	var p Page
	if len(items) > limit {
		items = items[:limit]
		p.Next = encodePageToken(items[limit-1].GetItem().GetId())
	}
	p.Items = items
	return p, nil
}

const pageTokenPrefix = "v1:"

func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + lastID))
}

func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(raw), pageTokenPrefix) {
		return "", fmt.Errorf("%w: %q", ErrBadPageToken, token)
	}
	return strings.TrimPrefix(string(raw), pageTokenPrefix), nil
}
