package ports

import (
	"slices"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/internal/auth"
)

// rule is what a call needs: the scope, and whether the request names the
// client it acts as (then a principal bound to a client may only name its
// own) or returns clients' histories (then a bound principal sees only its
// own actions).
type rule struct {
	// open: no credential of the public API is asked (a worker's
	// membership call carries the cluster's own, checked by its handler).
	open         bool
	scope        auth.Scope
	actsAsClient bool
	readsHistory bool
}

// policy is the one table of who may call what on the public API, the same
// on REST, Connect, gRPC and gRPC-Web (the auth interceptor applies it to
// every procedure; REST routes are these procedures). A procedure missing
// here is refused. The routes outside the API have their own line each:
// /healthz, /readyz's status, /docs, /openapi.json and gRPC health and
// reflection are open (reflection shows the schema, which /openapi.json
// publishes anyway); /readyz's details and /metrics need readyDetailsScope
// and metricsScope.
var policy = map[string]rule{
	auctionv1connect.AuctionServiceGetItemProcedure:      {scope: auth.ScopeItemsRead, readsHistory: true},
	auctionv1connect.AuctionServiceListItemsProcedure:    {scope: auth.ScopeItemsRead, readsHistory: true},
	auctionv1connect.AuctionServiceAddItemProcedure:      {scope: auth.ScopeItemsWrite},
	auctionv1connect.AuctionServiceBuyItemProcedure:      {scope: auth.ScopeActionsWrite, actsAsClient: true},
	auctionv1connect.AuctionServiceSellItemProcedure:     {scope: auth.ScopeActionsWrite, actsAsClient: true},
	auctionv1connect.AuctionServicePawnItemProcedure:     {scope: auth.ScopeActionsWrite, actsAsClient: true},
	clusterv1connect.MembershipServiceJoinProcedure:      {open: true},
	clusterv1connect.MembershipServiceHeartbeatProcedure: {open: true},
	clusterv1connect.MembershipServiceLeaveProcedure:     {open: true},
}

// The scopes of the operator's routes.
const (
	readyDetailsScope = auth.ScopeAdmin
	metricsScope      = auth.ScopeAdmin
)

// seesAllHistory reports principals that read every client's actions:
// staff (actions:write:any) and operators (admin). Anyone else sees only the
// actions of the client it is bound to.
func seesAllHistory(p auth.Principal) bool {
	return p.Has(auth.ScopeActionsWriteAny) || p.Has(auth.ScopeAdmin)
}

// authorize says whether p may make a call of procedure with request msg;
// the refusal names the missing scope or the client mismatch.
func authorize(p auth.Principal, procedure string, msg any) error {
	r, ok := policy[procedure]
	if !ok {
		return &denial{msg: "this call is not open to any credential"}
	}
	if !p.Has(r.scope) {
		return &denial{scope: r.scope, msg: "this call needs the scope " + string(r.scope) + ", which the credential does not carry"}
	}
	if !r.actsAsClient || p.Has(auth.ScopeActionsWriteAny) {
		return nil
	}
	m, ok := msg.(hasClientID)
	if !ok {
		return &denial{scope: auth.ScopeActionsWriteAny, msg: "this call needs the scope actions:write:any"}
	}
	if p.Client == "" {
		return &denial{scope: auth.ScopeActionsWriteAny, msg: "the credential is bound to no client: recording actions for a client needs the scope actions:write:any"}
	}
	if m.GetClientId() != p.Client {
		return &denial{scope: auth.ScopeActionsWriteAny, msg: "the credential acts as client " + p.Client + " only: clientId must be " + p.Client + " (acting for other clients needs the scope actions:write:any)"}
	}
	return nil
}

// denial is a refusal of authorization: the message for the client and the
// scope that would have allowed the call (for WWW-Authenticate).
type denial struct {
	scope auth.Scope
	msg   string
}

func (d *denial) Error() string         { return d.msg }
func (d *denial) ClientMessage() string { return d.msg }
func (d *denial) Unwrap() error         { return errForbidden }

// filterHistories removes from a read's answer the actions of clients
// other than the one p is bound to, unless p sees every history.
func filterHistories(p auth.Principal, res any) {
	if seesAllHistory(p) {
		return
	}
	var items []*auctionv1.ItemWithHistory
	switch r := res.(type) {
	case *auctionv1.GetItemResponse:
		items = []*auctionv1.ItemWithHistory{r.GetItem()}
	case *auctionv1.ListItemsResponse:
		items = r.GetItems()
	}
	for _, it := range items {
		if it == nil {
			continue
		}
		it.Buys = slices.DeleteFunc(it.Buys, func(a *auctionv1.Buy) bool { return a.GetClientId() == "" || a.GetClientId() != p.Client })
		it.Sells = slices.DeleteFunc(it.Sells, func(a *auctionv1.Sell) bool { return a.GetClientId() == "" || a.GetClientId() != p.Client })
		it.Pawns = slices.DeleteFunc(it.Pawns, func(a *auctionv1.Pawn) bool { return a.GetClientId() == "" || a.GetClientId() != p.Client })
	}
}
