package openapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/openapi"
)

type document struct {
	Info struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"info"`
	SecurityDefinitions map[string]struct {
		Type, Name, In, Description string
	} `json:"securityDefinitions"`
	Security []map[string][]string `json:"security"`
	Paths    map[string]map[string]struct {
		Summary        string                      `json:"summary"`
		Description    string                      `json:"description"`
		RequiredScopes []string                    `json:"x-required-scopes"`
		Security       []map[string][]string       `json:"security"`
		Parameters     []struct{ Name, In string } `json:"parameters"`
		Responses      map[string]struct {
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
			wantErrors := []string{"400", "401", "403", "500", "503"}
			if method == "post" {
				success = "202"
				wantErrors = append(wantErrors, "413")
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

// TestSecurity guards what Swagger UI's Authorize button and generated
// clients rely on: a credential sent in the Authorization header on every
// route (an API key or an OIDC token, either suffices), and the scope each
// route needs, as the dispatcher's policy table has it.
func TestSecurity(t *testing.T) {
	d := load(t)
	for _, name := range []string{"ApiKey", "OIDC"} {
		s, ok := d.SecurityDefinitions[name]
		if !ok || s.Type != "apiKey" || s.In != "header" || s.Name != "Authorization" || !strings.Contains(s.Description, "Bearer") {
			t.Errorf("security definition %s = %+v; want an apiKey in the Authorization header, described as Bearer", name, s)
		}
	}
	want := []map[string][]string{{"ApiKey": {}}, {"OIDC": {}}}
	if len(d.Security) != len(want) {
		t.Fatalf("document security %v; want %v (either credential on every route)", d.Security, want)
	}
	for i, req := range d.Security {
		for name, scopes := range want[i] {
			if got, ok := req[name]; !ok || len(got) != len(scopes) || len(req) != 1 {
				t.Errorf("document security[%d] = %v; want %v", i, req, want[i])
			}
		}
	}
	scopes := map[string]string{
		"post /item/add":         "items:write",
		"post /item/action/buy":  "actions:write",
		"post /item/action/sell": "actions:write",
		"post /item/action/pawn": "actions:write",
		"get /item/fetch/{id}":   "items:read",
		"get /item/fetch":        "items:read",
	}
	for path, ops := range d.Paths {
		for method, op := range ops {
			name := method + " " + path
			if op.Security != nil {
				t.Errorf("%s: overrides the document's security with %v", name, op.Security)
			}
			if len(op.RequiredScopes) != 1 || op.RequiredScopes[0] != scopes[name] {
				t.Errorf("%s: x-required-scopes %q, want [%s]", name, op.RequiredScopes, scopes[name])
			}
			for _, s := range op.RequiredScopes {
				if !slices.Contains(auth.AllScopes, auth.Scope(s)) {
					t.Errorf("%s: unknown scope %q", name, s)
				}
				if !strings.Contains(op.Description, "`"+s+"`") {
					t.Errorf("%s: the description does not name the scope %s", name, s)
				}
			}
		}
	}
	if !strings.Contains(d.Info.Description, "Authorize") || !strings.Contains(d.Info.Description, "401") {
		t.Error("info.description does not explain authentication (Authorize, 401)")
	}
}
