// Package fraudlist is the contract between the feeder, which publishes the
// list of fraudulent clients to Redis, and the dispatchers, which refuse
// their actions: the Redis keys, the update channel, and the text format of
// the list kept in S3.
package fraudlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Redis names shared by the feeder and the dispatchers.
const (
	// SetKey holds the list in force: a Redis set of client ids. The feeder
	// replaces it atomically (it builds a new key, then renames it over
	// this one), so readers never see a half-written list.
	SetKey = "fraud:clients"
	// VersionKey holds the version of the list in SetKey (an opaque string
	// that changes with every replacement).
	VersionKey = "fraud:version"
	// UpdatesChannel is the pub/sub channel on which the feeder announces a
	// new version; dispatchers reload the set when they hear it.
	UpdatesChannel = "fraud:updates"
)

// clientID is the rule for client ids in the public API (auction.v1).
var clientID = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ErrMalformed marks a list that cannot be used; the previous one stays.
var ErrMalformed = errors.New("malformed fraud list")

// Parse reads the list: one client id per line, surrounding spaces trimmed,
// blank lines and lines starting with '#' ignored. Any other line that is not
// a valid client id makes the whole list malformed (a list cut in the middle
// or in the wrong format must not silently clear entries). Duplicates are
// kept once.
func Parse(data []byte) ([]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	seen := map[string]bool{}
	var ids []string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !clientID.MatchString(line) {
			return nil, fmt.Errorf("%w: line %d: %q is not a client id (1 to 64 of letters, digits, '.', '_', '@', '-')", ErrMalformed, n, truncate(line))
		}
		if !seen[line] {
			seen[line] = true
			ids = append(ids, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return ids, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
