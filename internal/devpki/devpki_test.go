package devpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/pawnshop/auction/internal/devpki"
)

func serialOf(t *testing.T, f devpki.Files) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf.SerialNumber.String()
}

// TestEnsureReusesValidFiles: a second run on the same directory keeps the
// CA and the leaves; a leaf whose names changed, or that another CA signed,
// is made again; keys are private to the owner.
func TestEnsureReusesValidFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := devpki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf := devpki.Leaf{Name: "worker-1", URIs: []string{"spiffe://auction/worker/worker-1"}}
	f, err := ca.EnsureLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	first := serialOf(t, f)
	if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	pair, _ := tls.LoadX509KeyPair(f.Cert, f.Key)
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the leaf does not chain to the CA: %v", err)
	}

	again, err := devpki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := again.EnsureLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(t, f2) != first {
		t.Error("a valid leaf was made again")
	}
	leaf.URIs = []string{"spiffe://auction/worker/other"}
	f3, err := again.EnsureLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(t, f3) == first {
		t.Error("a leaf whose names changed was kept")
	}

	// A new CA in the directory (the old one removed) re-signs the leaf.
	_ = os.Remove(ca.CertFile())
	fresh, err := devpki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	second := serialOf(t, f3)
	f4, err := fresh.EnsureLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(t, f4) == second {
		t.Error("a leaf of the old CA was kept")
	}
}
