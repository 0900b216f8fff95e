// Package swaggerui serves Swagger UI for the OpenAPI document that the
// dispatcher serves at /openapi.json, from files embedded in the binary: no
// CDN and no file system at run time.
//
// dist/ holds the assets of the npm package swagger-ui-dist at the version
// pinned in tools/package.json (dist/VERSION), copied by scripts/swaggerui.sh
// (`just swaggerui`); never edit them. index.html and swagger-initializer.js
// are hand-written: the page and the call that starts Swagger UI on
// /openapi.json.
package swaggerui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the handler serves under.
const Prefix = "/docs/"

//go:embed index.html swagger-initializer.js dist
var files embed.FS

// Version is the swagger-ui-dist version of the embedded assets.
var Version = strings.TrimSpace(string(must(files.ReadFile("dist/VERSION"))))

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets maps the name under Prefix ("" is the page) to its file: the two
// hand-written files, and every copied file of dist/ under its own name.
var assets = func() map[string]asset {
	m := map[string]asset{}
	add := func(name, file string) {
		body := must(files.ReadFile(file))
		ct := mime.TypeByExtension(path.Ext(file))
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		sum := sha256.Sum256(body)
		m[name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	add("", "index.html")
	add("index.html", "index.html")
	add("swagger-initializer.js", "swagger-initializer.js")
	entries := must(fs.ReadDir(files, "dist"))
	for _, e := range entries {
		if e.Name() != "VERSION" {
			add(e.Name(), "dist/"+e.Name())
		}
	}
	return m
}()

// Handler serves Swagger UI under Prefix: the page at /docs/ and its assets
// beside it. Mount it at "/docs/" (and redirect "/docs" there).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		a, found := assets[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		// Revalidate every time (cheap: an ETag match answers 304), so a new
		// dispatcher with another Swagger UI is picked up at once.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic("swaggerui: embedded files: " + err.Error())
	}
	return v
}
