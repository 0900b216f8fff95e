package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBinariesDoNotLinkStandIns guards the rule that only tests and
// the dev stack use the embedded Kafka, MongoDB, S3 and Redis.
func TestProductionBinariesDoNotLinkStandIns(t *testing.T) {
	for _, bin := range []string{"dispatcher", "worker", "feeder"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/pawnshop/auction/services/"+bin).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", bin, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"/internal/embedded", "twmb/franz-go/pkg/kfake", "FerretDB", "gofakes3", "miniredis"} {
				if strings.Contains(dep, banned) {
					t.Errorf("services/%s links %s", bin, dep)
				}
			}
		}
	}
}
