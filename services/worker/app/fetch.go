package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
)

// ErrNotFound is returned when no item has the requested id.
var ErrNotFound = errors.New("item not found")

// ErrBadPageToken is returned for a page token no worker issued.
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

// maxPageTokenLen is the longest token accepted, the contract's bound on
// Page.token: decoding work and the id passed to the query stay small
// whatever a client sends.
const maxPageTokenLen = 512

// encodePageToken makes the opaque token of the page after lastID.
func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + lastID))
}

// decodePageToken returns the id a token continues after ("" for the first
// page), or ErrBadPageToken for anything encodePageToken did not make: too
// long, not base64url, another prefix, or an id that is not UTF-8 (which
// MongoDB would refuse as a string).
func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	if len(token) > maxPageTokenLen {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrBadPageToken, len(token), maxPageTokenLen)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	// The decoder skips '\r' and '\n' even when strict: only the token this
	// worker would issue for the id is accepted, one spelling per page.
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != token ||
		!strings.HasPrefix(string(raw), pageTokenPrefix) || !utf8.Valid(raw) {
		return "", fmt.Errorf("%w: %q", ErrBadPageToken, token)
	}
	return strings.TrimPrefix(string(raw), pageTokenPrefix), nil
}
