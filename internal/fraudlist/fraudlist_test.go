package fraudlist_test

import (
	"errors"
	"slices"
	"testing"

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
	for _, bad := range []string{"ok\nnot ok\n", "x,y\n", string([]byte{0xff, 0xfe}) + "\n", "a" + string(make([]byte, 70))} {
		if _, err := fraudlist.Parse([]byte(bad)); !errors.Is(err, fraudlist.ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", bad, err)
		}
	}
}
