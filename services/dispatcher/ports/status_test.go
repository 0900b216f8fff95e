package ports

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"google.golang.org/protobuf/proto"
)

// statusRow is one row of the README's status table: an outcome and what
// REST, Connect, and gRPC and gRPC-Web answer for it.
type statusRow struct {
	outcome       string
	rest, connect int
	grpc          string // the gRPC code as the README spells it (OK, NOT_FOUND, ...)
}

// readmeStatusTable reads the table between the README's status-table markers.
func readmeStatusTable(t *testing.T) []statusRow {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- status-table")
	table, _, ok2 := strings.Cut(rest, "<!-- /status-table -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- status-table --> … <!-- /status-table --> block")
	}
	var rows []statusRow
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 4 || !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		cells[3] = strings.Trim(cells[3], "`")
		restStatus, err1 := strconv.Atoi(cells[1])
		connectStatus, err2 := strconv.Atoi(cells[2])
		if err1 != nil || err2 != nil {
			continue // the header and its rule
		}
		rows = append(rows, statusRow{cells[0], restStatus, connectStatus, cells[3]})
	}
	if len(rows) == 0 {
		t.Fatal("the README's status table has no rows")
	}
	return rows
}

// statusScenario makes the outcome of a row happen: the handler's options,
// what happens before the call (over the server, as the call's client), and
// the call.
type statusScenario struct {
	opts  fixtureOpts
	auth  bool // authentication on, and the call sends no credential
	setup func(t *testing.T, srv *httptest.Server)
	call  edgeCall
}

var addHuge = edgeCall{"POST", "/item/add", `{"id":"ring-9","name":"` + strings.Repeat("x", 4096) + `","category":"CATEGORY_JEWELRY","priceCents":100,"state":"STATE_NEW"}`,
	func() proto.Message { return &auctionv1.AddItemResponse{} },
	func(ctx context.Context, c auctionv1connect.AuctionServiceClient) (proto.Message, error) {
		r, err := c.AddItem(ctx, connect.NewRequest(&auctionv1.AddItemRequest{Id: "ring-9", Name: strings.Repeat("x", 4096),
			Category: auctionv1.Category_CATEGORY_JEWELRY, PriceCents: 100, State: auctionv1.State_STATE_NEW}))
		return msgOf(r, err)
	}}

// statusScenarios are keyed by the README's outcome text.
var statusScenarios = map[string]statusScenario{
	"write accepted (durable; stored by a worker asynchronously)": {call: addRing},
	"read answered": {call: getRing},
	"invalid request (validation, malformed body or query)": {call: buyBy("alice", -5)},
	"no credential, or an invalid one":                      {auth: true, call: getRing},
	"not allowed (scope missing, client on the fraud list)": {opts: fixtureOpts{fraud: fraudList{"mallory": true}}, call: buyBy("mallory", 5)},
	"item not found": {call: getMissing},
	"item id already added with another body": {call: addRing, setup: func(t *testing.T, srv *httptest.Server) {
		r := send(t, srv.Client(), "POST", srv.URL+"/item/add", jsonType, `{"id":"ring-9","name":"other ring","category":"CATEGORY_JEWELRY","priceCents":100,"state":"STATE_NEW"}`)
		if r.status != http.StatusAccepted {
			t.Fatalf("first add: %d %s", r.status, r.body)
		}
	}},
	"request body over `MAX_BODY_BYTES`": {opts: fixtureOpts{cfg: HandlerConfig{MaxBodyBytes: 1024}}, call: addHuge},
	"rate limited (retry after `Retry-After`)": {opts: fixtureOpts{cfg: HandlerConfig{Edge: EdgeConfig{RatePerClient: 0.001, RateBurst: 1}}}, call: getRing,
		setup: func(t *testing.T, srv *httptest.Server) {
			send(t, srv.Client(), "GET", srv.URL+"/item/fetch/ring-1", "", "")
		}},
	"unavailable: broker and write buffer both down, no worker, overloaded (retry)": {opts: fixtureOpts{publishErr: app.ErrPublishUnavailable}, call: addRing},
}

// TestREADMEStatusTable checks every row of the README's status table
// against the handler: the outcome made to happen on REST, Connect, gRPC and
// gRPC-Web, each on a fresh handler, answers the row's REST status, Connect
// status and gRPC code (gRPC-Web: that code, with HTTP 200). A row without a
// scenario, or a scenario without a row, fails: the table cannot drift.
func TestREADMEStatusTable(t *testing.T) {
	rows := readmeStatusTable(t)
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.outcome] = true
		sc, ok := statusScenarios[row.outcome]
		if !ok {
			t.Errorf("README status table row %q has no scenario in statusScenarios", row.outcome)
			continue
		}
		t.Run(row.outcome, func(t *testing.T) {
			wantCode := strings.ToLower(row.grpc)
			serve := func() *httptest.Server {
				var f *fixture
				if sc.auth {
					f, _, _ = newAuthFixture(t, sc.opts)
				} else {
					f = newFixture(t, sc.opts)
				}
				srv := f.server(t, true)
				if sc.setup != nil {
					sc.setup(t, srv)
				}
				return srv
			}

			srv := serve()
			if r := send(t, srv.Client(), sc.call.method, srv.URL+sc.call.path, contentTypeOf(sc.call), sc.call.body); r.status != row.rest {
				t.Errorf("REST: HTTP %d %s, want %d", r.status, r.body, row.rest)
			}
			srv = serve()
			r := send(t, srv.Client(), "POST", srv.URL+"/auction.v1.AuctionService/"+rpcName(sc.call), jsonType, connectBody(t, sc.call))
			if r.status != row.connect {
				t.Errorf("Connect: HTTP %d %s, want %d", r.status, r.body, row.connect)
			}
			for name, opt := range map[string]connect.ClientOption{"gRPC": connect.WithGRPC(), "gRPC-Web": connect.WithGRPCWeb()} {
				srv := serve()
				rt := &statusRoundTripper{next: srv.Client().Transport}
				client := auctionv1connect.NewAuctionServiceClient(&http.Client{Transport: rt}, srv.URL, opt)
				_, err := sc.call.rpc(context.Background(), client)
				got := "ok"
				if err != nil {
					got = connect.CodeOf(err).String()
				}
				if got != wantCode {
					t.Errorf("%s: %v, want %s", name, err, row.grpc)
				}
				if rt.status != http.StatusOK {
					t.Errorf("%s: HTTP %d, want 200 (the outcome is in the gRPC status)", name, rt.status)
				}
			}
		})
	}
	for outcome := range statusScenarios {
		if !seen[outcome] {
			t.Errorf("scenario %q is not a row of the README's status table", outcome)
		}
	}
}

// statusRoundTripper remembers the HTTP status of the last response.
type statusRoundTripper struct {
	next   http.RoundTripper
	status int
}

func (s *statusRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(r)
	if err == nil {
		s.status = res.StatusCode
	}
	return res, err
}
