package ports

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/pawnshop/auction/services/dispatcher/domain"
	"google.golang.org/protobuf/types/known/durationpb"
)

// MembershipHandler serves cluster.v1.MembershipService to the workers.
type MembershipHandler struct {
	m *app.Membership
}

var _ clusterv1connect.MembershipServiceHandler = (*MembershipHandler)(nil)

// NewMembershipHandler returns the membership handler. The logger is not
// used: the pipeline logs errors with the request id (kept for the fx wiring).
func NewMembershipHandler(m *app.Membership, _ *slog.Logger) *MembershipHandler {
	return &MembershipHandler{m: m}
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
	}
	return clusterv1.RejectReason_REJECT_REASON_UNSPECIFIED
}

// Join implements clusterv1connect.MembershipServiceHandler. A refused join is
// an answer (Rejected), not an RPC error.
func (h *MembershipHandler) Join(ctx context.Context, req *connect.Request[clusterv1.JoinRequest]) (*connect.Response[clusterv1.JoinResponse], error) {
	if rej := h.m.Join(req.Msg.GetWorkerId(), req.Msg.GetAddress(), req.Msg.GetClusterToken()); rej != nil {
		return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Rejected{
			Rejected: &clusterv1.Rejected{Reason: rejectReasonToProto(rej.Reason), Message: rej.Message}}}), nil
	}
	return connect.NewResponse(&clusterv1.JoinResponse{Result: &clusterv1.JoinResponse_Joined{
		Joined: &clusterv1.Joined{HeartbeatInterval: durationpb.New(h.m.HeartbeatInterval())}}}), nil
}

// Heartbeat implements clusterv1connect.MembershipServiceHandler.
func (h *MembershipHandler) Heartbeat(ctx context.Context, req *connect.Request[clusterv1.HeartbeatRequest]) (*connect.Response[clusterv1.HeartbeatResponse], error) {
	err := h.m.Heartbeat(req.Msg.GetWorkerId(), req.Msg.GetClusterToken())
	switch {
	case err == nil:
		return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: true}), nil
	case errors.Is(err, app.ErrUnknownWorker):
		return connect.NewResponse(&clusterv1.HeartbeatResponse{Known: false}), nil
	}
	return nil, err
}

// Leave implements clusterv1connect.MembershipServiceHandler.
func (h *MembershipHandler) Leave(ctx context.Context, req *connect.Request[clusterv1.LeaveRequest]) (*connect.Response[clusterv1.LeaveResponse], error) {
	if err := h.m.Leave(req.Msg.GetWorkerId(), req.Msg.GetClusterToken()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&clusterv1.LeaveResponse{}), nil
}
