package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	connectvalidate "connectrpc.com/validate"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/connectlimit"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MembershipPolicy is who may make membership calls, and how often.
type MembershipPolicy struct {
	// RequireIdentity binds every call to the caller's certificate: it must
	// name the worker whose worker_id the request carries (mutual TLS). Off
	// only with AUTH_MODE=none without cluster TLS.
	RequireIdentity bool
	// JoinRate and JoinBurst limit Joins per remote address (a token
	// bucket); 0 turns the limit off.
	JoinRate  float64
	JoinBurst int
}

// MembershipHandler serves cluster.v1.MembershipService to the workers, on
// the cluster listener (NewClusterHandler), never on the public one.
type MembershipHandler struct {
	m      *app.Membership
	policy MembershipPolicy
	joins  *rateLimiter
	log    *slog.Logger
}

var _ clusterv1connect.MembershipServiceHandler = (*MembershipHandler)(nil)

// NewMembershipHandler returns the membership handler.
func NewMembershipHandler(m *app.Membership, policy MembershipPolicy, log *slog.Logger) *MembershipHandler {
	return &MembershipHandler{m: m, policy: policy, joins: newRateLimiter(policy.JoinRate, policy.JoinBurst), log: log}
}

// errIdentity is a call whose certificate does not name its worker_id.
var errIdentity = errors.New("the caller's certificate does not name this worker")

// checkCaller binds a call to the caller's identity: under RequireIdentity
// the verified certificate must be a worker's, with the id the request
// names. It returns the identity seen (for the record) and an error with
// its Connect code.
func (h *MembershipHandler) checkCaller(ctx context.Context, workerID string) (string, error) {
	if !h.policy.RequireIdentity {
		return "", nil
	}
	id, err := clustertls.Peer(ctx)
	if err != nil {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("a worker's cluster certificate is required"))
	}
	if id.Role != clustertls.RoleWorker || id.ID != workerID {
		return id.String(), connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%w: the certificate names %s, the request worker %q", errIdentity, id, workerID))
	}
	return id.String(), nil
}

// record logs a membership call with who made it, from where, and its
// outcome: the cluster's audit trail.
func (h *MembershipHandler) record(ctx context.Context, call string, peer connect.Peer, workerID, identity string, err error, level slog.Level) {
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
		level = max(level, slog.LevelWarn)
	}
	h.log.Log(ctx, level, "membership call", "call", call, "worker", workerID, "identity", identity,
		"remote", peer.Addr, "outcome", outcome)
}

// rejectReasonToProto converts a domain reject reason to the API enum.
func rejectReasonToProto(r domain.RejectReason) clusterv1.RejectReason {
	switch r {
	case domain.RejectBadToken:
		return clusterv1.RejectReason_REJECT_REASON_BAD_TOKEN
	case domain.RejectBadAddress:
		return clusterv1.RejectReason_REJECT_REASON_BAD_ADDRESS
	case domain.RejectDuplicateID:
		return clusterv1.RejectReason_REJECT_REASON_DUPLICATE_ID
	case domain.RejectIdentity:
		return clusterv1.RejectReason_REJECT_REASON_IDENTITY
	}
	return clusterv1.RejectReason_REJECT_REASON_UNSPECIFIED
}

func rejected(rej *domain.Rejection) *connect.Response[clusterv1.JoinResponse] {
	return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Rejected{
		Rejected: &clusterv1.Rejected{Reason: rejectReasonToProto(rej.Reason), Message: rej.Message}}})
}

// remoteHost is the address a call came from, without its port: the rate
// limit's key.
func remoteHost(p connect.Peer) string {
	if h, _, err := net.SplitHostPort(p.Addr); err == nil {
		return h
	}
	return p.Addr
}

// Join implements clusterv1connect.MembershipServiceHandler. A refused join is
// an answer (Rejected), not an RPC error, except past the rate limit
// (resource_exhausted: retry later).
func (h *MembershipHandler) Join(ctx context.Context, req *connect.Request[clusterv1.JoinRequest]) (*connect.Response[clusterv1.JoinResponse], error) {
	wid := req.Msg.GetWorkerId()
	if ok, wait := h.joins.allow(remoteHost(req.Peer())); !ok {
		err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("too many joins from this address; retry in %s", wait.Round(1e6)))
		h.record(ctx, "join", req.Peer(), wid, "", err, slog.LevelInfo)
		return nil, err
	}
	identity, err := h.checkCaller(ctx, wid)
	if err != nil {
		h.record(ctx, "join", req.Peer(), wid, identity, err, slog.LevelInfo)
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			return nil, err
		}
		return rejected(&domain.Rejection{Reason: domain.RejectIdentity, Message: errors.Unwrap(err).Error()}), nil
	}
	if err := h.m.Join(ctx, wid, req.Msg.GetAddress(), req.Msg.GetClusterToken()); err != nil {
		h.record(ctx, "join", req.Peer(), wid, identity, err, slog.LevelInfo)
		if rej, ok := errors.AsType[*domain.Rejection](err); ok {
			return rejected(rej), nil
		}
		return nil, toClusterError(err)
	}
	h.record(ctx, "join", req.Peer(), wid, identity, nil, slog.LevelInfo)
	return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Joined{
		Joined: &clusterv1.Joined{HeartbeatInterval: durationpb.New(h.m.HeartbeatInterval())}}}), nil
}

// Heartbeat implements clusterv1connect.MembershipServiceHandler.
func (h *MembershipHandler) Heartbeat(ctx context.Context, req *connect.Request[clusterv1.HeartbeatRequest]) (*connect.Response[clusterv1.HeartbeatResponse], error) {
	wid := req.Msg.GetWorkerId()
	identity, err := h.checkCaller(ctx, wid)
	if err == nil {
		err = h.m.Heartbeat(ctx, wid, req.Msg.GetClusterToken())
	}
	switch {
	case err == nil:
		return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: true}), nil
	case errors.Is(err, app.ErrUnknownWorker):
		return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: false}), nil
	}
	h.record(ctx, "heartbeat", req.Peer(), wid, identity, err, slog.LevelDebug)
	return nil, toClusterError(err)
}

// Leave implements clusterv1connect.MembershipServiceHandler.
func (h *MembershipHandler) Leave(ctx context.Context, req *connect.Request[clusterv1.LeaveRequest]) (*connect.Response[clusterv1.LeaveResponse], error) {
	wid := req.Msg.GetWorkerId()
	identity, err := h.checkCaller(ctx, wid)
	if err == nil {
		err = h.m.Leave(ctx, wid, req.Msg.GetClusterToken())
	}
	h.record(ctx, "leave", req.Peer(), wid, identity, err, slog.LevelInfo)
	if err != nil {
		return nil, toClusterError(err)
	}
	return connect.NewResponse(&clusterv1.LeaveResponse{}), nil
}

// toClusterError gives a membership error its Connect code.
func toClusterError(err error) error {
	if _, ok := errors.AsType[*connect.Error](err); ok {
		return err
	}
	if errors.Is(err, domain.ErrBadToken) {
		return connect.NewError(connect.CodePermissionDenied, domain.ErrBadToken)
	}
	if errors.Is(err, app.ErrRegistryUnavailable) {
		// The worker retries, through another dispatcher or later.
		return connect.NewError(connect.CodeUnavailable, app.ErrRegistryUnavailable)
	}
	return connect.NewError(connect.CodeInternal, errors.New("membership call failed"))
}

// auditMembership records membership calls in the audit trail, as the
// public calls are: the procedure, outcome, the caller's cluster identity
// (credential kind "mtls") and address. Successful heartbeats are left out:
// every worker sends one every interval, and the log of who joined and left
// says when each was alive.
func auditMembership(a Auditor) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			res, err := next(ctx, req)
			procedure := req.Spec().Procedure
			if a == nil || (err == nil && procedure == clusterv1connect.MembershipServiceHeartbeatProcedure) {
				return res, err
			}
			status, httpStatus := "ok", http.StatusOK
			if err != nil {
				code := connect.CodeOf(err)
				status, httpStatus = code.String(), httpStatusOf(req.Peer().Protocol, code)
			}
			principal, kind := "", "none"
			if id, perr := clustertls.Peer(ctx); perr == nil {
				principal, kind = id.String(), "mtls"
			}
			rid := requestid.FromContext(ctx)
			if rid == "" {
				rid = requestid.New()
			}
			a.Record(&eventsv1.AuditRecord{
				Route: procedure, Protocol: req.Peer().Protocol, Status: status, HttpStatus: int32(httpStatus),
				Latency: durationpb.New(time.Since(start)), RequestId: rid, Time: timestamppb.New(time.Now().Truncate(time.Millisecond)),
				Principal: principal, CredentialKind: kind, RemoteAddress: remoteHost(req.Peer()),
			})
			return res, err
		}
	}
}

// NewClusterHandler routes the cluster listener: the MembershipService
// (validated, body capped at maxBody, audited to a when not nil), its gRPC
// health and GET /healthz. Served behind clustertls.WithPeer under mutual
// TLS.
func NewClusterHandler(h *MembershipHandler, v protovalidate.Validator, maxBody int64, a Auditor) http.Handler {
	mux := http.NewServeMux()
	path, rpc := clusterv1connect.NewMembershipServiceHandler(h,
		connect.WithInterceptors(auditMembership(a), connectvalidate.NewInterceptor(connectvalidate.WithValidator(v))),
		connect.WithReadMaxBytes(int(maxBody)), connectlimit.Gzip(maxBody))
	mux.Handle(path, connectlimit.Body(rpc, maxBody))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(clusterv1connect.MembershipServiceName)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	return mux
}
