package config_test

import "testing"

// TestRejectUnknownFields: unknown JSON fields are refused by default;
// REJECT_UNKNOWN_FIELDS=false lets them be ignored; a value that is not a
// boolean is a configuration problem.
func TestRejectUnknownFields(t *testing.T) {
	base := map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": "0123456789abcdef0123456789abcdef"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	if c, err := load(base); err != nil || !c.JSON.RejectUnknownFields {
		t.Errorf("default: %+v, %v", c.JSON, err)
	}
	if c, err := load(with("REJECT_UNKNOWN_FIELDS", "false")); err != nil || c.JSON.RejectUnknownFields {
		t.Errorf("false: %+v, %v", c.JSON, err)
	}
	if _, err := load(with("REJECT_UNKNOWN_FIELDS", "sometimes")); err == nil {
		t.Error("REJECT_UNKNOWN_FIELDS=sometimes: loaded")
	}
}
