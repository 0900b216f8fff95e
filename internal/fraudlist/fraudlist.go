// Package fraudlist is the contract between the feeder, which publishes the
// list of fraudulent clients to Redis, and the dispatchers, which refuse
// their actions: the Redis keys, the update channel, the text format of the
// list kept in S3, and the one canonical form in which client ids are
// compared.
package fraudlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pawnshop/auction/internal/clustername"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Keys are the Redis names shared by the feeder and the dispatchers of one
// deployment, all under its CLUSTER_NAME so that two deployments sharing a
// Redis keep their own lists.
type Keys struct {
	// Set holds the list in force: a Redis set of canonical client ids
	// (see Canonical). The feeder replaces it atomically (it builds a new
	// key, then renames it over this one), so readers never see a
	// half-written list.
	Set string
	// Version holds the version of the list in Set (an opaque string that
	// changes with every replacement).
	Version string
	// Updates is the pub/sub channel on which the feeder announces a new
	// version; dispatchers reload the set when they hear it.
	Updates string
}

// KeysFor returns the Redis names of the deployment n: "<name>:fraud:clients",
// "<name>:fraud:version" and the channel "<name>:fraud:updates".
func KeysFor(n clustername.Name) Keys {
	return Keys{Set: n.Key("fraud", "clients"), Version: n.Key("fraud", "version"), Updates: n.Key("fraud", "updates")}
}

// AllowShrinkDirective is the line that lets a list replace one in force
// although it is empty or much shorter (the feeder refuses such a list
// otherwise: a truncated upload or an emptied file must not switch screening
// off). It is a comment to anything that does not know it, so an operator
// adds it to the text file and uploads it as usual, for example with
// `curl -X PUT --data-binary @fraudsters.txt <object URL>`:
//
//	#! allow-shrink
//	mallory
const AllowShrinkDirective = "#! allow-shrink"

// directivePrefix starts a directive line; any other line starting with '#'
// is a comment.
const directivePrefix = "#!"

// MaxIDLen is the longest client id, in characters, as in the public API.
const MaxIDLen = 64

// clientID is the rule for client ids in the public API (auction.v1 rule
// string.client_id): letters, digits, '_' and '-' in parts joined by single
// '.' or '@'.
var clientID = regexp.MustCompile(`^[A-Za-z0-9_-]+([.@][A-Za-z0-9_-]+)*$`)

// ErrMalformed marks a list that cannot be used; the previous one stays.
var ErrMalformed = errors.New("malformed fraud list")

// List is a parsed list object.
type List struct {
	// IDs are the canonical client ids, each once, in the order of the file.
	IDs []string
	// AllowShrink is set by the AllowShrinkDirective line.
	AllowShrink bool
}

// Valid reports whether id is a client id in canonical form: what Parse
// returns and what the dispatchers hold.
func Valid(id string) bool {
	return utf8.RuneCountInString(id) <= MaxIDLen && clientID.MatchString(id) && Canonical(id) == id
}

// Canonical returns the form in which client ids are compared, in the list
// and in requests alike, so that a listed client cannot slip through by
// spelling its id differently: surrounding spaces trimmed, invisible
// characters removed (format characters such as zero-width spaces and
// joiners, the word joiner, the byte order mark, the soft hyphen and bidi
// controls; variation selectors; the other default-ignorable code points such
// as the Hangul fillers and the combining grapheme joiner), then Unicode
// NFKC (fullwidth and other compatibility forms become plain letters) and
// case folding. MALLORY, " mallory ", "mal\u200blory" and "ｍａｌｌｏｒｙ" are
// all "mallory". Canonical(Canonical(s)) == Canonical(s).
func Canonical(id string) string {
	if ascii(id) {
		// The common case, on every screened action: for ASCII, NFKC
		// changes nothing, there is no invisible character to remove
		// besides controls (which stay, and make the id invalid) and
		// folding is lowering.
		return strings.TrimSpace(strings.ToLower(id))
	}
	s := id
	// Folding can undo normalization and NFKC can produce characters that
	// folding changes again; two rounds reach the fixed point for every
	// known input, the loop bound only guards against the unknown.
	for range 4 {
		next := canonicalStep(s)
		if next == s {
			break
		}
		s = next
	}
	return s
}

func canonicalStep(s string) string {
	s = strings.Map(dropInvisible, s)
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s)
	s = norm.NFKC.String(s)
	s = strings.Map(dropInvisible, s)
	return strings.TrimSpace(s)
}

// dropInvisible removes the characters that render as nothing.
func dropInvisible(r rune) rune {
	if unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
		return -1
	}
	return r
}

// Parse reads the list and returns its canonical client ids; see ParseList.
func Parse(data []byte) ([]string, error) {
	l, err := ParseList(data)
	return l.IDs, err
}

// ParseList reads the list: one client id per line, surrounding spaces
// trimmed, blank lines and lines starting with '#' ignored, except the
// directive lines starting with "#!" (AllowShrinkDirective is the only one;
// an unknown directive is refused so that a misspelt one is noticed). Each id
// is put in canonical form (Canonical) and must then be a valid client id;
// any other line makes the whole list malformed (a list cut in the middle or
// in the wrong format must not silently clear entries). Duplicates, also
// those that differ only in spelling, are kept once.
func ParseList(data []byte) (List, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	seen := map[string]bool{}
	var l List
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimSpace(strings.TrimPrefix(line, "\uFEFF")) // a byte order mark from an editor
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, directivePrefix) {
			if strings.Join(strings.Fields(line[len(directivePrefix):]), " ") != strings.TrimSpace(AllowShrinkDirective[len(directivePrefix):]) {
				return List{}, fmt.Errorf("%w: line %d: unknown directive %q (the only one is %q)", ErrMalformed, n, truncate(line), AllowShrinkDirective)
			}
			l.AllowShrink = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		id := Canonical(line)
		if !Valid(id) {
			return List{}, fmt.Errorf("%w: line %d: %q is not a client id (1 to %d letters, digits, '_' and '-' in parts joined by single '.' or '@')", ErrMalformed, n, truncate(line), MaxIDLen)
		}
		if !seen[id] {
			seen[id] = true
			l.IDs = append(l.IDs, id)
		}
	}
	if err := sc.Err(); err != nil {
		return List{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return l, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return strings.ToValidUTF8(s[:80], "") + "…"
	}
	return s
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
