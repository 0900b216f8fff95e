package clustername

import (
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
)

func TestParse(t *testing.T) {
	for _, ok := range []string{"auction", "a", "shop-2", "0", strings.Repeat("a", MaxLen)} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "Auction", "-a", "a-", "a.b", "a:b", "a_b", "a b", strings.Repeat("a", MaxLen+1), "é"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = ok, want an error", bad)
		}
	}
}

func TestDerivedNames(t *testing.T) {
	n := MustParse("staging")
	if got := n.Key("wbuf", "events"); got != "staging:wbuf:events" {
		t.Errorf("Key = %q", got)
	}
	if got := n.Topic("items"); got != "staging.items" {
		t.Errorf("Topic = %q", got)
	}
	if got := n.Group("workers"); got != "staging.workers" {
		t.Errorf("Group = %q", got)
	}
	var zero Name
	if MustParse(Default) != zero {
		t.Errorf("Parse(%q) is not the zero Name", Default)
	}
	if zero.String() != Default || zero.Key("x") != "auction:x" {
		t.Errorf("zero Name = %q, %q; want the default", zero.String(), zero.Key("x"))
	}
}

func TestLoad(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{}))
	if n := Load(l); n.String() != Default || l.Err() != nil {
		t.Fatalf("unset: %q, %v", n, l.Err())
	}
	l = envconfig.New(envconfig.FromMap(map[string]string{"CLUSTER_NAME": "Prod.1"}))
	Load(l)
	err := l.Err()
	if err == nil || !strings.Contains(err.Error(), "CLUSTER_NAME") || !strings.Contains(err.Error(), "lower-case") {
		t.Fatalf("bad name: %v", err)
	}
}
