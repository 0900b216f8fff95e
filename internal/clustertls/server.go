package clustertls

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/internal/httpserver"
)

// RequireRole is a Connect interceptor for cluster RPCs: a call from a
// caller without a verified cluster certificate is refused with
// unauthenticated, one from a member of another role with
// permission_denied. The handler must be served behind WithPeer.
func RequireRole(role Role) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			id, err := Peer(ctx)
			if err != nil {
				return nil, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("a %s's cluster certificate is required", role))
			}
			if id.Role != role {
				return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("only a %s may call this; the caller is %s", role, id))
			}
			return next(ctx, req)
		}
	})
}

// ServerOptions are the httpserver options of a cluster listener: TLS with
// ServerConfig. The handler must be wrapped in WithPeer.
func (s *Source) ServerOptions() []httpserver.Option {
	return []httpserver.Option{httpserver.WithTLSConfig(s.ServerConfig())}
}

// Transport returns an HTTP transport for calls to cluster members over
// cfg (a ClientConfig): h2 over TLS, pooled keep-alive connections, bounded
// dials.
func Transport(cfg *tls.Config) *http.Transport {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 5 * time.Second,
		Protocols:           &protocols,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
}
