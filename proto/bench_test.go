package proto_test

import (
	"testing"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
)

// BenchmarkValidateAddItemRequest measures the request validation every
// write goes through (the dispatcher's protovalidate interceptor): a valid
// request, one with an explicit id (the pattern rule runs), and an invalid
// one (every field violated: the violations are built).
func BenchmarkValidateAddItemRequest(b *testing.B) {
	v, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		req   *auctionv1.AddItemRequest
		valid bool
	}{
		{"valid", &auctionv1.AddItemRequest{Name: "Brass lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
			PriceCents: 1999, State: auctionv1.State_STATE_GOOD, AgeMonths: 120}, true},
		{"valid-with-id", &auctionv1.AddItemRequest{Id: "lamp-1", Name: "Brass lamp", Category: auctionv1.Category_CATEGORY_DECORATION,
			PriceCents: 1999, State: auctionv1.State_STATE_GOOD, AgeMonths: 120}, true},
		{"invalid", &auctionv1.AddItemRequest{Id: "bad id", Name: "", Category: auctionv1.Category(99), PriceCents: -5, AgeMonths: 20000}, false},
	}
	for _, c := range cases {
		if err := v.Validate(c.req); (err == nil) != c.valid {
			b.Fatalf("%s: validate: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = v.Validate(c.req)
			}
		})
	}
}
