package ports

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/openapi"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// JSON bodies are read by the same rules on REST and on Connect: enum names
// with or without their prefix, unknown enum names and unknown fields
// refused with invalid_argument naming them (unknown fields accepted when
// configured so).
func TestJSONBodyRules(t *testing.T) {
	protocols := []struct{ name, path string }{
		{"REST", "/item/add"},
		{"Connect", connectAdd},
	}
	add := func(category, extra string) string {
		return `{"name":"ring","category":` + category + `,"priceCents":100,"state":"STATE_NEW"` + extra + `}`
	}
	cases := []struct {
		name         string
		allowUnknown bool
		body         string
		ok           bool
		want         []string // substrings of the error message
	}{
		{name: "prefixed enum", body: add(`"CATEGORY_MOTOR"`, ""), ok: true},
		{name: "unprefixed enum", body: add(`"MOTOR"`, ""), ok: true},
		{name: "unprefixed enum, lower case", body: `{"name":"ring","category":"motor","priceCents":100,"state":"good"}`, ok: true},
		{name: "enum number", body: add(`6`, ""), ok: true},
		{name: "unknown enum name", body: add(`"SPACESHIP"`, ""),
			want: []string{`category: "SPACESHIP" is not one of`, "MOTOR", "prefix CATEGORY_ is optional"}},
		{name: "unknown field refused", body: add(`"MOTOR"`, `,"colour":"red"`),
			want: []string{`unknown field "colour"`}},
		{name: "unknown fields all named", body: add(`"CATEGORY_MOTOR"`, `,"colour":"red","weight_kg":3`),
			want: []string{`unknown fields`, `"colour"`, `"weight_kg"`}},
		{name: "unknown field allowed", allowUnknown: true, body: add(`"MOTOR"`, `,"colour":"red"`), ok: true},
		{name: "unknown enum name with unknown fields allowed", allowUnknown: true, body: add(`"SPACESHIP"`, `,"colour":"red"`),
			want: []string{`category: "SPACESHIP"`}},
		{name: "proto field name", body: `{"name":"ring","category":"JEWELRY","price_cents":100,"state":"NEW"}`, ok: true},
		{name: "rule violations still reported", body: `{"name":"ring","category":"MOTOR","priceCents":-1,"state":"NEW"}`,
			want: []string{"priceCents"}},
		{name: "malformed JSON", body: `{"name":"ring",`, want: []string{"not valid JSON"}},
	}
	for _, c := range cases {
		f := newFixture(t, fixtureOpts{cfg: HandlerConfig{AllowUnknownFields: c.allowUnknown}})
		for _, p := range protocols {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				r := f.do(http.MethodPost, p.path, jsonType, c.body)
				if c.ok {
					if r.status/100 != 2 {
						t.Fatalf("status %d, want 2xx: %s", r.status, r.body)
					}
					return
				}
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				if code := r.json(t)["code"]; code != "invalid_argument" {
					t.Errorf("code %v, want invalid_argument", code)
				}
				msg := r.message(t)
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q does not contain %q", msg, w)
					}
				}
			})
		}
	}
}

// Binary protobuf keeps proto's semantics: a field the server does not
// know is skipped, whatever REJECT_UNKNOWN_FIELDS says.
func TestProtobufIgnoresUnknownFields(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	b, err := proto.Marshal(&auctionv1.AddItemRequest{Name: "ring", Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 100, State: auctionv1.State_STATE_NEW})
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 7)
	r := f.do(http.MethodPost, connectAdd, "application/proto", string(b))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %q", r.status, r.body)
	}
}

// Query parameters take enum names without their prefix too.
func TestQueryEnumWithoutPrefix(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, q := range []string{"category=CATEGORY_MOTOR", "category=MOTOR", "state=good"} {
		if r := f.do(http.MethodGet, "/item/fetch?"+q, "", ""); r.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", q, r.status, r.body)
		}
	}
	r := f.do(http.MethodGet, "/item/fetch?category=SPACESHIP", "", "")
	if r.status != http.StatusBadRequest {
		t.Errorf("category=SPACESHIP: status %d, want 400: %s", r.status, r.body)
	}
}

// swaggerDoc is the part of the OpenAPI document the example test reads.
type swaggerDoc struct {
	Paths map[string]map[string]struct {
		Parameters []struct {
			In     string `json:"in"`
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"parameters"`
	} `json:"paths"`
	Definitions map[string]struct {
		Example    json.RawMessage `json:"example"`
		Default    any             `json:"default"`
		Enum       []string        `json:"enum"`
		Properties map[string]struct {
			Type   string `json:"type"`
			Format string `json:"format"`
		} `json:"properties"`
	} `json:"definitions"`
}

// Every request body example of the OpenAPI document (what Swagger UI's Try
// it out sends) is accepted unchanged; money in requests is documented as
// JSON integers; no enum defaults to its *_UNSPECIFIED value, which the API
// refuses.
func TestOpenAPIExamplesWork(t *testing.T) {
	var d swaggerDoc
	if err := json.Unmarshal(openapi.Document, &d); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOpts{})
	posts := 0
	for path, ops := range d.Paths {
		for method, op := range ops {
			for _, p := range op.Parameters {
				if p.In != "body" {
					continue
				}
				name := strings.TrimPrefix(p.Schema.Ref, "#/definitions/")
				def, ok := d.Definitions[name]
				if !ok || len(def.Example) == 0 {
					t.Errorf("%s %s: body %q has no example", method, path, name)
					continue
				}
				posts++
				r := f.do(strings.ToUpper(method), path, jsonType, string(def.Example))
				if r.status/100 != 2 {
					t.Errorf("%s %s with the example %s: status %d: %s", method, path, def.Example, r.status, r.body)
				}
				for field, s := range def.Properties {
					if strings.HasSuffix(field, "Cents") && (s.Type != "integer" || s.Format != "int64") {
						t.Errorf("%s.%s is %s/%s, want integer/int64", name, field, s.Type, s.Format)
					}
				}
			}
		}
	}
	if posts != 4 {
		t.Errorf("%d request bodies with examples, want 4 (add, buy, sell, pawn)", posts)
	}
	for name, def := range d.Definitions {
		if s, ok := def.Default.(string); ok && strings.HasSuffix(s, "_UNSPECIFIED") {
			t.Errorf("%s defaults to %s", name, s)
		}
	}
}
