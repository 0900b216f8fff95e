package stack

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/devpki"
)

// dispatcherIdentity is the stack's dispatcher in the cluster (extra
// dispatchers of StartDispatcher share its certificate).
var dispatcherIdentity = clustertls.Identity{Role: clustertls.RoleDispatcher, ID: "devstack-dispatcher"}

func workerIdentity(id string) clustertls.Identity {
	return clustertls.Identity{Role: clustertls.RoleWorker, ID: id}
}

// setUpPKI makes (or reuses) the development cluster CA under
// DataDir/pki, or in a temporary directory removed at Close when there is
// no data directory: the stack runs the cluster's mutual TLS as production
// does, with certificates nobody had to make by hand.
func (s *Stack) setUpPKI() error {
	dir := filepath.Join(s.cfg.DataDir, "pki")
	if s.cfg.DataDir == "" {
		tmp, err := os.MkdirTemp("", "devstack-pki-")
		if err != nil {
			return fmt.Errorf("the development PKI's directory: %w", err)
		}
		dir, s.pkiTemp = tmp, tmp
	}
	ca, err := devpki.EnsureCA(dir)
	if err != nil {
		return fmt.Errorf("the development cluster CA: %w", err)
	}
	s.pki = ca
	return nil
}

// clusterTLSEnv sets env's CLUSTER_TLS_* to a certificate for id in the
// stack's trust domain, its CLUSTER_NAME (made or reused under the PKI
// directory). Leaves name loopback too, for tools such as curl --cacert.
func (s *Stack) clusterTLSEnv(env map[string]string, id clustertls.Identity) error {
	if s.pki == nil {
		return fmt.Errorf("the development PKI is not set up")
	}
	// The trust domain is the deployment's name: members of another
	// deployment, though signed by the same CA, are refused.
	f, err := s.pki.EnsureLeaf(devpki.Leaf{Name: string(id.Role) + "-" + id.ID, URIs: []string{id.URIIn(s.cfg.ClusterName.String())},
		DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}})
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", id, err)
	}
	env["CLUSTER_TLS_CA_FILE"], env["CLUSTER_TLS_CERT_FILE"], env["CLUSTER_TLS_KEY_FILE"] = f.CA, f.Cert, f.Key
	return nil
}

// ClusterURL is the first dispatcher's cluster listener, where workers join.
func (s *Stack) ClusterURL() string { return s.Dispatchers()[0].clusterURL }

// ClusterCAFile is the development cluster CA's certificate.
func (s *Stack) ClusterCAFile() string { return s.pki.CertFile() }

// DispatcherTLSEnv is the CLUSTER_TLS_* environment (KEY=value) of a
// dispatcher process beside the stack: the stack's dispatcher certificate
// and CA, so that the stack's workers' certificates are accepted. Give it
// CLUSTER_ADDR too, and its workers DISPATCHER_URL=https://<that address>.
func (s *Stack) DispatcherTLSEnv() ([]string, error) {
	env := map[string]string{}
	if err := s.clusterTLSEnv(env, dispatcherIdentity); err != nil {
		return nil, err
	}
	return []string{"CLUSTER_TLS_CA_FILE=" + env["CLUSTER_TLS_CA_FILE"], "CLUSTER_TLS_CERT_FILE=" + env["CLUSTER_TLS_CERT_FILE"],
		"CLUSTER_TLS_KEY_FILE=" + env["CLUSTER_TLS_KEY_FILE"]}, nil
}
