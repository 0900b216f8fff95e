package swaggerui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/pawnshop/auction/openapi/swaggerui"
)

func get(t *testing.T, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	swaggerui.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPageReferencesBundleAndDocument(t *testing.T) {
	for _, path := range []string{"/docs/", "/docs/index.html"} {
		res := get(t, path)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q, want text/html", path, ct)
		}
		for _, want := range []string{`src="./swagger-ui-bundle.js"`, `href="./swagger-ui.css"`, `src="./swagger-initializer.js"`, `"/openapi.json"`} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: the page does not contain %s:\n%s", path, want, page)
			}
		}
		// No asset may come from another host at run time.
		for _, bad := range []string{"http://", "https://", "//unpkg", "//cdn"} {
			if strings.Contains(page, bad) {
				t.Errorf("GET %s: the page refers to another host (%s)", path, bad)
			}
		}
	}
	init := body(t, get(t, "/docs/swagger-initializer.js"))
	for _, want := range []string{"SwaggerUIBundle(", "openapiUrl", "requestInterceptor: withBearer"} {
		if !strings.Contains(init, want) {
			t.Errorf("the initializer does not contain %s:\n%s", want, init)
		}
	}
}

func TestAssetsHaveTheirContentTypes(t *testing.T) {
	for path, want := range map[string]string{
		"/docs/swagger-ui-bundle.js":             "text/javascript",
		"/docs/swagger-initializer.js":           "text/javascript",
		"/docs/swagger-ui.css":                   "text/css",
		"/docs/favicon-32x32.png":                "image/png",
		"/docs/LICENSE":                          "text/plain",
		"/docs/swagger-ui-bundle.js.LICENSE.txt": "text/plain",
	} {
		res := get(t, path)
		b := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, ct, want)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
		}
		if len(b) == 0 {
			t.Errorf("GET %s: empty body", path)
		}
	}
	bundle := body(t, get(t, "/docs/swagger-ui-bundle.js"))
	if len(bundle) < 500_000 || !strings.Contains(bundle, "SwaggerUIBundle") {
		t.Errorf("the bundle (%d bytes) is not Swagger UI's", len(bundle))
	}
}

func TestConditionalGetAndUnknownPaths(t *testing.T) {
	res := get(t, "/docs/swagger-ui-bundle.js")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if res := get(t, "/docs/swagger-ui-bundle.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status %d, want 304", res.StatusCode)
	}
	for _, path := range []string{"/docs/nope.js", "/docs/dist/swagger-ui.css", "/docs/VERSION", "/docs/../openapi/openapi.go", "/other/"} {
		if res := get(t, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/docs/", nil)
	rec := httptest.NewRecorder()
	swaggerui.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /docs/: status %d, want 405", rec.Code)
	}
}

// TestVersionIsThePinnedOne ties the embedded assets to tools/package.json;
// `just check-generated` checks that the files themselves are the package's.
func TestVersionIsThePinnedOne(t *testing.T) {
	raw, err := os.ReadFile("../../tools/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if want := pkg.DevDependencies["swagger-ui-dist"]; swaggerui.Version != want {
		t.Errorf("embedded swagger-ui-dist %q, tools/package.json pins %q: run 'just swaggerui'", swaggerui.Version, want)
	}
	if !strings.HasPrefix(swaggerui.Version, "5.") {
		t.Errorf("swagger-ui-dist %s: want 5.x", swaggerui.Version)
	}
}
