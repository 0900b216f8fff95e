package topics

import (
	"slices"
	"testing"

	"github.com/pawnshop/auction/internal/clustername"
)

// TestForPrefixesEveryTopic: a deployment's topics are the base names under
// its name, the zero Name's under "auction", and dead letters follow.
func TestForPrefixesEveryTopic(t *testing.T) {
	got := For(clustername.MustParse("shop-2"))
	if want := []string{"shop-2.items", "shop-2.buy-actions", "shop-2.sell-actions", "shop-2.pawn-actions"}; !slices.Equal(got.Events(), want) {
		t.Errorf("Events() = %v, want %v", got.Events(), want)
	}
	if all := got.All(); len(all) != 5 || all[4] != "shop-2.long_term_storage" {
		t.Errorf("All() = %v", all)
	}
	if d := DeadLetter(got.Items); d != "shop-2.items.dlq" {
		t.Errorf("DeadLetter = %q", d)
	}
	if z := For(clustername.Name{}); z.Items != "auction.items" || z.LongTermStorage != "auction.long_term_storage" {
		t.Errorf("zero Name: %+v", z)
	}
	// All must not alias Events' backing array.
	ev := got.Events()
	_ = got.All()
	if ev[len(ev)-1] != "shop-2.pawn-actions" {
		t.Errorf("Events() changed by All(): %v", ev)
	}
}
