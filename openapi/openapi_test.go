package openapi_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/pawnshop/auction/openapi"
)

type document struct {
	Info struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"info"`
	Paths map[string]map[string]struct {
		Summary    string                      `json:"summary"`
		Parameters []struct{ Name, In string } `json:"parameters"`
		Responses  map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"responses"`
	} `json:"paths"`
	Definitions map[string]json.RawMessage `json:"definitions"`
}

func load(t testing.TB) document {
	t.Helper()
	var d document
	if err := json.Unmarshal(openapi.Document, &d); err != nil {
		t.Fatalf("openapi document is not valid JSON: %v", err)
	}
	return d
}

// TestRoutesAreExactlyThePublicAPI guards the contract of issue 2: the
// document lists the seed's routes and nothing else.
func TestRoutesAreExactlyThePublicAPI(t *testing.T) {
	d := load(t)
	var got []string
	for path, ops := range d.Paths {
		for method := range ops {
			got = append(got, method+" "+path)
		}
	}
	slices.Sort(got)
	want := []string{
		"get /item/fetch",
		"get /item/fetch/{id}",
		"post /item/action/buy",
		"post /item/action/pawn",
		"post /item/action/sell",
		"post /item/add",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("routes:\n got %q\nwant %q", got, want)
	}
}

func TestEveryRouteIsDocumented(t *testing.T) {
	d := load(t)
	if d.Info.Title == "" || d.Info.Description == "" {
		t.Error("info needs a title and a description")
	}
	for path, ops := range d.Paths {
		for method, op := range ops {
			name := method + " " + path
			if op.Summary == "" {
				t.Errorf("%s: no summary", name)
			}
			success := "200"
			wantErrors := []string{"400", "500", "503"}
			if method == "post" {
				success = "202"
				wantErrors = append(wantErrors, "413")
				if path != "/item/add" {
					wantErrors = append(wantErrors, "403")
				}
			}
			if path == "/item/fetch/{id}" {
				wantErrors = append(wantErrors, "404")
			}
			if r, ok := op.Responses[success]; !ok || r.Schema.Ref == "" {
				t.Errorf("%s: no %s response with a schema", name, success)
			}
			for _, code := range wantErrors {
				if r, ok := op.Responses[code]; !ok || r.Schema.Ref != "#/definitions/Error" {
					t.Errorf("%s: response %s missing or not an Error", name, code)
				}
			}
		}
	}
}

func TestListParameters(t *testing.T) {
	d := load(t)
	var names []string
	for _, p := range d.Paths["/item/fetch"]["get"].Parameters {
		if p.In != "query" {
			t.Errorf("parameter %s is in %s, want query", p.Name, p.In)
		}
		names = append(names, p.Name)
	}
	slices.Sort(names)
	want := []string{"category", "limit", "name", "pageToken", "state"}
	if !slices.Equal(names, want) {
		t.Fatalf("list parameters: got %q, want %q (lowerCamelCase)", names, want)
	}
}
