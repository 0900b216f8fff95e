package envconfig_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
)

func TestOptionalSecret(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"SET": "hunter2"}))
	set, unset := l.OptionalSecret("SET", "a secret"), l.OptionalSecret("UNSET", "another")
	if err := l.Err(); err != nil {
		t.Fatalf("an unset optional secret is a problem: %v", err)
	}
	if set.Reveal() != "hunter2" || unset != "" {
		t.Fatalf("got %q and %q", set.Reveal(), unset.Reveal())
	}
	var usage bytes.Buffer
	l.Usage(&usage)
	if out := usage.String() + fmt.Sprint(set); strings.Contains(out, "hunter2") || !strings.Contains(usage.String(), "SET") {
		t.Fatalf("usage or printing shows the secret, or the variable is not listed: %s", out)
	}
}
