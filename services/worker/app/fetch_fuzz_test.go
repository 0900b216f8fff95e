package app

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPageToken: decoding any token neither panics nor yields more than
// the contract's bound; a token that decodes is the one encodePageToken
// makes of its id (tokens are canonical), and every UTF-8 id short enough
// to fit the bound round-trips.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", "v1:", "i1", "item.one_2-3", encodePageToken("i1"), "djE6aTE", "djE6aTE=", "djE6aTF",
		"!!!", "\x00", "djE6/w", strings.Repeat("A", 600), "djE6" + strings.Repeat("A", 508)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := decodePageToken(s)
		if err == nil {
			if len(s) > maxPageTokenLen || len(id) > maxPageTokenLen {
				t.Fatalf("token of %d characters accepted (id of %d bytes)", len(s), len(id))
			}
			if !utf8.ValidString(id) {
				t.Fatalf("token %q decodes to an id that is not UTF-8: %q", s, id)
			}
			if s != "" && encodePageToken(id) != s {
				t.Fatalf("token %q decodes to %q which encodes to %q: not canonical", s, id, encodePageToken(id))
			}
		}
		// s as an id.
		tok := encodePageToken(s)
		got, err := decodePageToken(tok)
		fits := len(tok) <= maxPageTokenLen
		switch {
		case utf8.ValidString(s) && fits && (err != nil || got != s):
			t.Fatalf("id %q: token %q decodes to %q, %v", s, tok, got, err)
		case (!utf8.ValidString(s) || !fits) && err == nil:
			t.Fatalf("id %q: token %q accepted", s, tok)
		}
	})
}
