package ports

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAuditRemoteAddress: a refused call's audit record names the client
// by the trusted proxy's header when CLIENT_IP_HEADER is set (its last
// address, the one the proxy appended), else by the connection.
func TestAuditRemoteAddress(t *testing.T) {
	f, _, _ := newAuthFixture(t, fixtureOpts{cfg: HandlerConfig{Edge: EdgeConfig{ClientIPHeader: "X-Forwarded-For"}}})
	r := f.do("GET", "/item/fetch/ring-1", "", "", "X-Forwarded-For", "203.0.113.9, ::ffff:198.51.100.7")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("HTTP %d %s, want 401", r.status, r.body)
	}
	recs := f.audit.records()
	if len(recs) != 1 || recs[0].GetRemoteAddress() != "198.51.100.7" || recs[0].GetCredentialKind() != "none" || recs[0].GetStatus() != "unauthenticated" {
		t.Fatalf("audit records %v", recs)
	}
}

func TestClientAddr(t *testing.T) {
	for _, c := range []struct {
		remote, header, value, want string
	}{
		{"192.0.2.1:1234", "", "", "192.0.2.1"},
		{"[2001:db8::1]:443", "", "", "2001:db8::1"},
		{"192.0.2.1:1234", "X-Forwarded-For", "", "192.0.2.1"},
		{"192.0.2.1:1234", "X-Forwarded-For", "not an address", "192.0.2.1"},
		{"192.0.2.1:1234", "X-Real-Ip", "2001:db8::7", "2001:db8::7"},
		{"192.0.2.1:1234", "", "203.0.113.5", "192.0.2.1"}, // no header configured: not trusted
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.value != "" {
			h := c.header
			if h == "" {
				h = "X-Forwarded-For"
			}
			r.Header.Set(h, c.value)
		}
		if got := clientAddr(r, c.header); got != c.want {
			t.Errorf("clientAddr(%s, %s: %q) = %q, want %q", c.remote, c.header, c.value, got, c.want)
		}
	}
}
