package kafkasec_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/twmb/franz-go/pkg/kfake"
)

func load(env map[string]string) (kafkasec.Config, error) {
	l := envconfig.New(envconfig.FromMap(env))
	c := kafkasec.Load(l)
	return c, l.Err()
}

func TestLoadChecksTheWhole(t *testing.T) {
	p := certtest.SelfSigned(t)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		problem string // empty: valid
	}{
		{name: "default plaintext", env: map[string]string{}},
		{name: "ssl with CA", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_CA_LOCATION": p.CertFile}},
		{name: "sasl_ssl SCRAM", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}},
		{name: "mTLS", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_CERTIFICATE_LOCATION": p.CertFile, "KAFKA_SSL_KEY_LOCATION": p.KeyFile}},
		{name: "oauth", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
			"KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp.example/token", "KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "c", "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "s", "KAFKA_SASL_OAUTHBEARER_SCOPE": "kafka"}},

		{name: "unknown protocol", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "tls"}, problem: "KAFKA_SECURITY_PROTOCOL"},
		{name: "mechanism without sasl", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, problem: "KAFKA_SASL_MECHANISM: is set but KAFKA_SECURITY_PROTOCOL is ssl"},
		{name: "sasl without mechanism", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}, problem: "KAFKA_SASL_MECHANISM: is required"},
		{name: "unknown mechanism", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "GSSAPI"}, problem: `"GSSAPI" is not one of`},
		{name: "PLAIN without password", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}, problem: "KAFKA_SASL_PASSWORD: is required with KAFKA_SASL_MECHANISM=PLAIN"},
		{name: "SCRAM without user", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_PASSWORD": "p"}, problem: "KAFKA_SASL_USERNAME: is required"},
		{name: "password without mechanism", env: map[string]string{"KAFKA_SASL_PASSWORD": "p"}, problem: "KAFKA_SASL_PASSWORD: is set but no KAFKA_SASL_MECHANISM is"},
		{name: "oauth without secret", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
			"KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp.example/token", "KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "c"}, problem: "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET: is required"},
		{name: "oauth with a password", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_PASSWORD": "p",
			"KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp.example/token", "KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "c", "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "s"}, problem: "KAFKA_SASL_PASSWORD: does not apply to KAFKA_SASL_MECHANISM=OAUTHBEARER"},
		{name: "CA file with plaintext", env: map[string]string{"KAFKA_SSL_CA_LOCATION": p.CertFile}, problem: "KAFKA_SSL_CA_LOCATION: is set but KAFKA_SECURITY_PROTOCOL is plaintext"},
		{name: "missing CA file", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_CA_LOCATION": p.CertFile + ".missing"}, problem: "KAFKA_SSL_CA_LOCATION: cannot be read"},
		{name: "certificate without key", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_CERTIFICATE_LOCATION": p.CertFile}, problem: "KAFKA_SSL_KEY_LOCATION: is required"},
		{name: "key password without key", env: map[string]string{"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_KEY_PASSWORD": "x"}, problem: "KAFKA_SSL_KEY_PASSWORD: is set but KAFKA_SSL_KEY_LOCATION is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("err %v, want %q", err, tc.problem)
			}
			for _, secret := range []string{"=p", "\"p\"", "\"s\""} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestApplySetsLibrdkafkaKeys(t *testing.T) {
	p := certtest.SelfSigned(t)
	c, err := load(map[string]string{"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
		"KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp.example/token", "KAFKA_SASL_OAUTHBEARER_CLIENT_ID": "c",
		"KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "s", "KAFKA_SASL_OAUTHBEARER_SCOPE": "kafka", "KAFKA_SSL_CA_LOCATION": p.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	m := kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:1"}
	c.Apply(m)
	want := kafka.ConfigMap{
		"bootstrap.servers": "127.0.0.1:1", "security.protocol": "sasl_ssl", "sasl.mechanism": "OAUTHBEARER",
		"sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
		"sasl.oauthbearer.client.id": "c", "sasl.oauthbearer.client.secret": "s", "sasl.oauthbearer.scope": "kafka",
		"enable.ssl.certificate.verification": true, "ssl.endpoint.identification.algorithm": "https", "ssl.ca.location": p.CertFile,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("got %d keys, want %d: %v", len(m), len(want), m)
	}
	// librdkafka accepts the OIDC settings (its build has the OIDC client):
	// creating the producer validates the configuration without connecting.
	pr, err := kafka.NewProducer(&m)
	if err != nil {
		t.Fatalf("librdkafka refused the OAUTHBEARER/OIDC configuration: %v", err)
	}
	pr.Close()
}

// deliver produces one message through a librdkafka producer configured
// with sec and returns its delivery error.
func deliver(t testing.TB, brokers string, sec kafkasec.Config) error {
	t.Helper()
	m := kafka.ConfigMap{"bootstrap.servers": brokers, "message.timeout.ms": 5000, "log_level": 0, "go.logs.channel.enable": false}
	sec.Apply(m)
	p, err := kafka.NewProducer(&m)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	topic := "t"
	done := make(chan kafka.Event, 1)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: []byte("v")}, done); err != nil {
		return err
	}
	select {
	case ev := <-done:
		return ev.(*kafka.Message).TopicPartition.Error
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery report within 30s (message.timeout.ms is 5s)")
		return nil
	}
}

// startKafka runs a kfake broker with SASL users (and TLS when cert is set).
func startKafka(t testing.TB, tlsCfg *tls.Config) string {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.EnableSASL(),
		kfake.Superuser(kafkasec.Plain, "plain-user", "plain-pass"),
		kfake.Superuser(kafkasec.ScramSHA256, "scram256-user", "scram256-pass"),
		kfake.Superuser(kafkasec.ScramSHA512, "scram512-user", "scram512-pass"),
	}
	if tlsCfg != nil {
		opts = append(opts, kfake.TLS(tlsCfg))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

func TestSASLAgainstKfake(t *testing.T) {
	brokers := startKafka(t, nil)
	for _, mech := range []string{kafkasec.Plain, kafkasec.ScramSHA256, kafkasec.ScramSHA512} {
		user := map[string]string{kafkasec.Plain: "plain", kafkasec.ScramSHA256: "scram256", kafkasec.ScramSHA512: "scram512"}[mech]
		t.Run(mech, func(t *testing.T) {
			right := kafkasec.Config{Protocol: kafkasec.SASLPlaintext, Mechanism: mech, Username: user + "-user", Password: envconfig.Secret(user + "-pass")}
			if err := deliver(t, brokers, right); err != nil {
				t.Fatalf("with the right password: %v", err)
			}
			wrong := right
			wrong.Password = "wrong"
			if err := deliver(t, brokers, wrong); err == nil {
				t.Fatal("with a wrong password the message was delivered")
			}
		})
	}
	// Without SASL the broker does not take the message either.
	if err := deliver(t, brokers, kafkasec.Config{}); err == nil {
		t.Fatal("a plaintext client without SASL was able to produce")
	}
}

func TestTLSAgainstKfake(t *testing.T) {
	srv := certtest.SelfSigned(t)
	brokers := startKafka(t, &tls.Config{Certificates: []tls.Certificate{srv.TLS}, MinVersion: tls.VersionTLS12})
	sec := kafkasec.Config{Protocol: kafkasec.SASLSSL, Mechanism: kafkasec.ScramSHA512, Username: "scram512-user", Password: "scram512-pass", CALocation: srv.CertFile}
	if err := deliver(t, brokers, sec); err != nil {
		t.Fatalf("sasl_ssl with the broker's CA: %v", err)
	}
	other := certtest.SelfSigned(t)
	sec.CALocation = other.CertFile
	if err := deliver(t, brokers, sec); err == nil {
		t.Fatal("a client that does not trust the broker's certificate delivered")
	}
}
