// Package clustername is the deployment's name (CLUSTER_NAME) and the one
// place where it turns into the names of shared state: Redis keys and
// channels, Kafka topics and consumer groups. Two deployments that share a
// Redis or a Kafka (staging and production, two shops) must never read or
// replay each other's data, so no service spells a shared name without it.
package clustername

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pawnshop/auction/internal/envconfig"
)

// Default is the name of a deployment that sets none.
const Default = "auction"

// MaxLen bounds a name so that every derived Kafka name stays far below
// Kafka's 249 characters and the name fits a DNS label.
const MaxLen = 32

// valid is a DNS label of lower-case letters, digits and '-': safe in a Redis
// key, a Kafka topic, a consumer group, a Kubernetes object name and a URI
// host.
var valid = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Name is a checked deployment name; the zero Name is Default.
type Name struct{ s string }

// Parse checks s: 1 to MaxLen lower-case letters, digits and '-', starting
// and ending with a letter or digit. Parse(Default) is the zero Name.
func Parse(s string) (Name, error) {
	if len(s) > MaxLen || !valid.MatchString(s) {
		return Name{}, fmt.Errorf("%q is not a deployment name: 1 to %d lower-case letters, digits and '-', starting and ending with a letter or digit", s, MaxLen)
	}
	if s == Default {
		// One value per name: the zero Name is Default, so a parsed
		// "auction" equals it (configs compare with ==).
		return Name{}, nil
	}
	return Name{s: s}, nil
}

// MustParse is Parse for names known at compile time (tests, defaults); it
// panics on a bad one.
func MustParse(s string) Name {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Load reads CLUSTER_NAME; a bad value is a configuration problem in l.
func Load(l *envconfig.Loader) Name {
	v := l.String("CLUSTER_NAME", Default, "name of this deployment: prefixes every Redis key and channel, Kafka topic and consumer group it uses, so that deployments sharing a Redis or a Kafka stay apart")
	n, err := Parse(v)
	if err != nil {
		l.Fail("CLUSTER_NAME", "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("%q is ", v)))
		return Name{}
	}
	return n
}

// String is the name itself.
func (n Name) String() string {
	if n.s == "" {
		return Default
	}
	return n.s
}

// Key is the Redis key or channel name for the parts, joined by ':' under
// the deployment's name: Key("wbuf", "events") is "auction:wbuf:events".
func (n Name) Key(parts ...string) string {
	return n.String() + ":" + strings.Join(parts, ":")
}

// Topic is the Kafka topic named base in this deployment: "auction.items".
func (n Name) Topic(base string) string { return n.String() + "." + base }

// Group is the Kafka consumer group named base in this deployment:
// "auction.workers".
func (n Name) Group(base string) string { return n.String() + "." + base }
