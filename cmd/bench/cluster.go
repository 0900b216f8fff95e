package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/services/devstack/stack"
)

// newWorkerClient is the worker RPC baseline's HTTP client: the cluster's
// mutual TLS with the stack's dispatcher certificate, over the transport
// the dispatcher uses for its worker calls (workers answer dispatchers
// only). Without cluster TLS (AUTH_MODE=none) it is the plain client.
func newWorkerClient(s *stack.Stack, plain *http.Client) (*http.Client, error) {
	c := s.DispatcherConfig()
	files := c.Cluster.TLS
	if files.CA == "" {
		return plain, nil
	}
	files.TrustDomain = c.Name.String() // as the dispatcher does: the trust domain is CLUSTER_NAME
	src, err := clustertls.Load(files, quietLogger())
	if err != nil {
		return nil, fmt.Errorf("the dispatcher's cluster certificate: %w", err)
	}
	return &http.Client{Timeout: 2 * time.Minute,
		Transport: clustertls.Transport(src.ClientConfig(clustertls.ExpectRole(clustertls.RoleWorker)))}, nil
}
