package kafka_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/certreload/certtest"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestConsumesOverSASLSSL: the admin client, a producer and the worker's
// consumer reach a Kafka that accepts only SCRAM-SHA-512 over TLS, with the
// settings of kafkasec, and every record produced is stored.
func TestConsumesOverSASLSSL(t *testing.T) {
	broker := certtest.SelfSigned(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser(kafkasec.ScramSHA512, "worker", "kafka-secret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{broker.TLS}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := strings.Join(kc.ListenAddrs(), ",")
	sec := kafkasec.Config{Protocol: kafkasec.SASLSSL, Mechanism: kafkasec.ScramSHA512, Username: "worker", Password: "kafka-secret", CALocation: broker.CertFile}
	const topic, n = "secure-items", 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaadmin.EnsureTopics(ctx, brokers, sec, kafkaadmin.TopicSpec{Partitions: 2, Replication: 1}, topic); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := kafkapub.New(kafkapub.Config{Brokers: brokers, Security: sec}, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := p.Publish(ctx, kafkapub.Message{Topic: topic, Key: []byte{byte(i)}, Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(context.Background())

	rec := newRecorder()
	startConsumer(t, kafka.ConsumerConfig{Brokers: brokers, Group: "secure", BatchSize: 8, BatchWait: 5 * time.Millisecond, Security: sec},
		rec, []string{topic}, log)
	waitFor(t, 30*time.Second, func() bool { return rec.distinct() == n }, "every record consumed over SASL_SSL")
}
