package kafkapub_test

import (
	"testing"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/kafkasec"
)

func TestConfigMapCarriesTheSecuritySettings(t *testing.T) {
	m := *kafkapub.ConfigMap(kafkapub.Config{Brokers: "b:9093", Security: kafkasec.Config{
		Protocol: kafkasec.SASLSSL, Mechanism: kafkasec.ScramSHA512, Username: "u", Password: "p",
	}})
	for k, want := range map[string]any{"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "p", "enable.idempotence": true} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if m := *kafkapub.ConfigMap(kafkapub.Config{Brokers: "b:9092"}); m["security.protocol"] != "plaintext" {
		t.Errorf("zero Security: security.protocol = %v, want plaintext", m["security.protocol"])
	}
}
