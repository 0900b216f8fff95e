package config_test

import (
	"testing"

	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/config"
)

// TestClusterNameNamesTheTopics: CLUSTER_NAME is read, and the topics the
// dispatcher creates and publishes to are under it; the zero Config (a
// struct literal) is the default deployment, "auction".
func TestClusterNameNamesTheTopics(t *testing.T) {
	c, err := load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": token32, "CLUSTER_NAME": "shop-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"shop-2.items", "shop-2.buy-actions", "shop-2.sell-actions", "shop-2.pawn-actions", "shop-2.long_term_storage"}
	got := topics.For(c.Name).All()
	if len(got) != len(want) {
		t.Fatalf("topics %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("topics %v, want %v", got, want)
		}
	}
	c, err = load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": token32})
	if err != nil || c.Name.String() != "auction" {
		t.Fatalf("default name %q (%v)", c.Name, err)
	}
	if n := (config.Config{}).Name; topics.For(n).Items != "auction.items" {
		t.Errorf("zero Config's items topic %q", topics.For(n).Items)
	}
}
