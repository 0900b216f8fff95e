package ports

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// edgeStatuses are the statuses the public edge may answer with.
var edgeStatuses = map[int]bool{
	200: true, 202: true, 204: true, 301: true, 302: true, 307: true, 308: true,
	400: true, 403: true, 404: true, 405: true, 408: true, 413: true, 415: true, 429: true, 503: true, 504: true,
}

// FuzzEdge drives the whole public HTTP edge in-process (REST and Connect
// routes, health, docs) with arbitrary methods, paths, query strings,
// selected headers and bodies. Properties: no panic; a status from the
// expected set, never 500 (every input problem is the client's); error
// bodies are JSON with a code and a message, and neither they nor gRPC
// messages carry Go type names, decoder internals or addresses that the
// input did not contain; every public API call leaves exactly one audit
// record, with the HTTP status the client got, and no other call leaves one.
func FuzzEdge(f *testing.F) {
	seeds := []struct{ method, path, query, ctype, encoding, version, body string }{
		{"POST", "/item/add", "", "application/json", "", "", validAdd},
		{"POST", "/item/action/buy", "", "application/json", "", "", validBuy},
		{"POST", "/item/action/pawn", "", "application/json; charset=utf-8", "", "", `{"clientId":"a","itemId":"i","priceCents":5,"limitDays":0,"taxCents":-1}`},
		{"POST", "/item/add", "", "text/plain", "", "", validAdd},
		{"POST", "/item/add", "", "application/json", "gzip", "", validAdd},
		{"POST", "/item/add", "", "application/json", "", "", `{"name":`},
		{"GET", "/item/fetch/ring-1", "", "", "", "", ""},
		{"GET", "/item/fetch", "state=STATE_NEW&limit=abc", "", "", "", ""},
		{"GET", "/item/fetch", "name=a&category=CATEGORY_JEWELRY&pageToken=%zz", "", "", "", ""},
		{"POST", "/auction.v1.AuctionService/AddItem", "", "application/json", "", "1", validAdd},
		{"POST", "/auction.v1.AuctionService/GetItem", "", "application/proto", "", "1", "\x0a\x03abc"},
		{"POST", "/auction.v1.AuctionService/BuyItem", "", "application/json", "gzip", "1", "\x1f\x8b\x08\x00garbage"},
		{"POST", "/auction.v1.AuctionService/ListItems", "", "application/grpc", "", "", "\x00\x00\x00\x00\x02\x0a\x00"},
		{"POST", "/auction.v1.AuctionService/ListItems", "", "application/grpc-web+json", "", "", "\x00\x00\x00\x00\x02{}"},
		{"OPTIONS", "/item/add", "", "", "", "", ""},
		{"GET", "/", "", "", "", "", ""},
		{"PUT", "/healthz", "", "", "", "", ""},
		{"POST", "/cluster.v1.MembershipService/Join", "", "application/json", "", "", `{"workerId":"w","address":"http://[::1]:1"}`},
		{"GET", "/openapi.json", "", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ctype, s.encoding, s.version, []byte(s.body))
	}
	fx := newFixture(f, fixtureOpts{cfg: HandlerConfig{MaxBodyBytes: 64 << 10, RequestTimeout: 5 * time.Second,
		Edge: EdgeConfig{MaxInflightReads: 64, QueueReads: 64, MaxInflightWrites: 64, QueueWrites: 64, QueueWait: 10 * time.Millisecond,
			CORSOrigins: []string{"https://shop.example"}}}})
	f.Fuzz(func(t *testing.T, method, path, query, ctype, encoding, version string, body []byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " \r\n\t#\x00") {
			return // not something a client can put on the wire
		}
		req, err := http.NewRequest(method, "http://dispatcher"+path+"?"+query, bytes.NewReader(body))
		if err != nil {
			return
		}
		for k, v := range map[string]string{"Content-Type": ctype, "Content-Encoding": encoding, "Connect-Protocol-Version": version} {
			if v != "" && validHeaderValue(v) {
				req.Header.Set(k, v)
			}
		}
		if strings.HasPrefix(path, "/grpc.") || path == "/metrics" {
			return // streaming reflection and health watch; metrics text
		}
		before := len(fx.audit.records())
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		input := method + path + query + ctype + encoding + version + string(body)
		recs := fx.audit.records()
		switch n := len(recs) - before; {
		case !audited(path) && n != 0:
			t.Fatalf("%s %s: %d audit records for a call outside the public API", method, path, n)
		case audited(path) && n != 1:
			t.Fatalf("%s %s: %d audit records, want exactly 1", method, path, n)
		case n == 1 && int(recs[before].GetHttpStatus()) != rec.Code:
			t.Fatalf("%s %s: answered %d, audited as HTTP %d (%s)", method, path, rec.Code, recs[before].GetHttpStatus(), recs[before].GetStatus())
		}
		if !edgeStatuses[rec.Code] {
			t.Fatalf("%s %s?%s (%q, %q): status %d: %s", method, path, query, ctype, encoding, rec.Code, rec.Body.Bytes())
		}
		for _, l := range leaks {
			if strings.Contains(rec.Header().Get("Grpc-Message"), l) && !strings.Contains(input, l) {
				t.Fatalf("grpc-message leaks %q: %s", l, rec.Header().Get("Grpc-Message"))
			}
		}
		if rec.Code < 400 {
			return
		}
		var e struct{ Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("%s %s: status %d with a body that is not a Connect error: %q", method, path, rec.Code, rec.Body.Bytes())
		}
		for _, l := range leaks {
			if strings.Contains(e.Message, l) && !strings.Contains(input, l) {
				t.Fatalf("%s %s: message leaks %q: %s", method, path, l, e.Message)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if !(r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
