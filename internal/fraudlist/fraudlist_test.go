package fraudlist_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pawnshop/auction/internal/fraudlist"
)

func TestParse(t *testing.T) {
	got, err := fraudlist.Parse([]byte("# known fraudsters\n  mallory  \n\neve@example.com\r\nmallory\n   # indented comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mallory", "eve@example.com"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got, err := fraudlist.Parse(nil); err != nil || len(got) != 0 {
		t.Fatalf("empty list: %v %v", got, err)
	}
	for _, bad := range []string{"ok\nnot ok\n", "x,y\n", string([]byte{0xff, 0xfe}) + "\n", "a" + string(make([]byte, 70)),
		"mallory.\n", "..\n", "a..b\n", "a/b\n", "@eve\n", strings.Repeat("a", 65) + "\n", "mal\x00lory\n", "mal\x1blory\n"} {
		if _, err := fraudlist.Parse([]byte(bad)); !errors.Is(err, fraudlist.ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", bad, err)
		}
	}
}

func TestParseStoresCanonicalIDsOnce(t *testing.T) {
	got, err := fraudlist.Parse([]byte("\uFEFFMallory\nmallory\nＭＡＬＬＯＲＹ\nmal\u200blory\nEve@Example.COM\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mallory", "eve@example.com"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"mallory":             "mallory",
		"MALLORY":             "mallory",
		" mallory ":           "mallory",
		"\tMallory\r\n":       "mallory",
		"mal\u200blory":       "mallory", // zero-width space
		"mal\u200clory":       "mallory", // zero-width non-joiner
		"mal\u200dlory":       "mallory", // zero-width joiner
		"mal\u2060lory":       "mallory", // word joiner
		"\ufeffmallory":       "mallory", // byte order mark
		"mal\u00adlory":       "mallory", // soft hyphen
		"mal\u202elory":       "mallory", // right-to-left override
		"mal\u034flory":       "mallory", // combining grapheme joiner
		"mal\ufe0flory":       "mallory", // variation selector
		"ｍａｌｌｏｒｙ":             "mallory", // fullwidth
		"\u3000mallory\u3000": "mallory", // ideographic spaces
		"𝐦𝐚𝐥𝐥𝐨𝐫𝐲":             "mallory", // mathematical bold
		"Eve@Example.com":     "eve@example.com",
		"eve＠example．com":     "eve@example.com", // fullwidth '@' and '.'
		"\u212a":              "k",               // Kelvin sign
		"STRASSE":             "strasse",
		"straße":              "strasse",
		"lamp-1":              "lamp-1",
		"":                    "",
		"mal\x00lory":         "mal\x00lory", // controls stay, so the id stays invalid
		"mallory.":            "mallory.",
	} {
		if got := fraudlist.Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
		if got := fraudlist.Canonical(fraudlist.Canonical(in)); got != fraudlist.Canonical(in) {
			t.Errorf("Canonical is not idempotent on %q: %q then %q", in, fraudlist.Canonical(in), got)
		}
	}
}

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"mallory": true, "eve@example.com": true, "lamp-1": true, "a.b": true, "a_b": true,
		"Mallory": false, "mallory.": false, ".mallory": false, "..": false, "a..b": false, "a/b": false,
		"": false, "a b": false, "@": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
	} {
		if got := fraudlist.Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestAllowShrinkDirective(t *testing.T) {
	for _, data := range []string{
		fraudlist.AllowShrinkDirective + "\n",
		"# comment\n" + fraudlist.AllowShrinkDirective + "\nmallory\n",
		"mallory\n  #!   allow-shrink  \n",
	} {
		l, err := fraudlist.ParseList([]byte(data))
		if err != nil || !l.AllowShrink {
			t.Errorf("%q: %+v, %v; want AllowShrink", data, l, err)
		}
	}
	for _, data := range []string{"mallory\n", "# allow-shrink\nmallory\n", "#allow-shrink\n"} {
		if l, err := fraudlist.ParseList([]byte(data)); err != nil || l.AllowShrink {
			t.Errorf("%q: %+v, %v; want no AllowShrink", data, l, err)
		}
	}
	for _, data := range []string{"#! allow-shrinking\n", "#! allow shrink\n", "#!\n"} {
		if _, err := fraudlist.ParseList([]byte(data)); !errors.Is(err, fraudlist.ErrMalformed) {
			t.Errorf("%q: want ErrMalformed for an unknown directive, got %v", data, err)
		}
	}
}

// FuzzParse checks the parser on any bytes: it never panics, and whatever it
// returns is a list of distinct, valid, canonical client ids.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "mallory\n", "# c\n  mallory  \n\neve@example.com\r\nmallory\n", "#! allow-shrink\n",
		"MALLORY\nｍａｌｌｏｒｙ\nmal\u200blory\n", "mallory.\n", "..\n", "a/b\n", "\xff\xfe\n", "\ufeffmallory",
		"straße\nSTRASSE\n", "\u212a\nk\n", "x\x00y\n", strings.Repeat("a", 64) + "\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := fraudlist.ParseList(data)
		if err != nil {
			if !errors.Is(err, fraudlist.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			if len(l.IDs) != 0 {
				t.Fatalf("ids returned with an error: %q", l.IDs)
			}
			return
		}
		seen := map[string]bool{}
		for _, id := range l.IDs {
			if !fraudlist.Valid(id) {
				t.Fatalf("invalid id %q returned", id)
			}
			if c := fraudlist.Canonical(id); c != id {
				t.Fatalf("id %q is not canonical (%q)", id, c)
			}
			if seen[id] {
				t.Fatalf("id %q returned twice", id)
			}
			seen[id] = true
		}
		ids, err := fraudlist.Parse(data)
		if err != nil || !slices.Equal(ids, l.IDs) {
			t.Fatalf("Parse and ParseList disagree: %q %v vs %q", ids, err, l.IDs)
		}
	})
}

// FuzzCanonical checks the canonical form on any string: idempotent, never
// longer than a few times its input, valid UTF-8 for valid input, and never
// surrounded by spaces.
func FuzzCanonical(f *testing.F) {
	for _, seed := range []string{"mallory", " MALLORY ", "mal\u200blory", "ｍａｌｌｏｒｙ", "ß", "\u0390", "ﷺ", "\u1e9e", "\u0345\u0301", "\x00", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := fraudlist.Canonical(s)
		if again := fraudlist.Canonical(c); again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, c, again)
		}
		if utf8.ValidString(s) && !utf8.ValidString(c) {
			t.Fatalf("%q -> invalid UTF-8 %q", s, c)
		}
		if strings.TrimSpace(c) != c {
			t.Fatalf("%q -> %q has surrounding spaces", s, c)
		}
		if fraudlist.Valid(c) && fraudlist.Canonical(strings.ToUpper(c)) != c {
			t.Fatalf("the upper case of valid %q is not the same client", c)
		}
	})
}
