package embedded_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminOf is an admin client of k that closes when the test ends.
func adminOf(t *testing.T, k *embedded.Kafka) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()), kgo.DefaultProduceTopic("persisted"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// TestKafkaDataDirKeepsLogAndOffsets checks what the dev stack relies on
// across a restart: the records and a consumer group's committed offset
// are there again when a broker starts on the same directory.
func TestKafkaDataDirKeepsLogAndOffsets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	k, err := embedded.StartKafka(ctx, embedded.KafkaConfig{DataDir: dir, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	cl, adm := adminOf(t, k)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "persisted"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("r%03d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: "persisted", Partition: 0, At: 40, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "workers", offsets); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := k.CloseSync(); err != nil {
		t.Fatal(err)
	}

	k, err = embedded.StartKafka(ctx, embedded.KafkaConfig{DataDir: dir, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	_, adm = adminOf(t, k)
	ends, err := adm.ListEndOffsets(ctx, "persisted")
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup("persisted", 0); end.Offset != 100 {
		t.Fatalf("end offset after the restart: %d, want 100", end.Offset)
	}
	committed, err := adm.FetchOffsets(ctx, "workers")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := committed.Lookup("persisted", 0); !ok || c.At != 40 {
		t.Fatalf("committed offset after the restart: %+v (found %v), want 40", c, ok)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()), kgo.ConsumeTopics("persisted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	var got []string
	for len(got) < 100 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of 100 records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got[0] != "r000" || got[99] != "r099" {
		t.Fatalf("records after the restart: first %q, last %q", got[0], got[99])
	}
}

// TestKafkaRetentionBytes checks that RetentionBytes deletes the oldest
// records of a partition beyond the bound.
func TestKafkaRetentionBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	k, err := embedded.StartKafka(ctx, embedded.KafkaConfig{DataDir: dir, Partitions: 1, RetentionBytes: 1 << 20, RetentionCheck: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	cl, adm := adminOf(t, k)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "persisted"); err != nil {
		t.Fatal(err)
	}
	for range 64 { // 4 MiB that do not compress (the client compresses)
		value := make([]byte, 64<<10)
		_, _ = rand.Read(value)
		if err := cl.ProduceSync(ctx, kgo.SliceRecord(value)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	k.Cluster().ApplyRetention()
	starts, err := adm.ListStartOffsets(ctx, "persisted")
	if err != nil {
		t.Fatal(err)
	}
	// 1 MiB kept of 64 KiB records, in whole segments of 1 MiB: at most
	// 2 MiB, 32 records, remain.
	if st, _ := starts.Lookup("persisted", 0); st.Offset < 32 {
		t.Fatalf("log start after retention: %d, want >= 32 of 64 records deleted", st.Offset)
	}
	// The deleted segments' files are gone too.
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if size > 5<<19 {
		t.Fatalf("%d bytes left on disk after retention, want at most 2.5 MiB", size)
	}
}

// TestS3DataDirKeepsObjectsOverSeed checks that objects persist under
// DataDir and that the seed does not overwrite an object PUT before a
// restart, while a seeded key that is missing is created.
func TestS3DataDirKeepsObjectsOverSeed(t *testing.T) {
	dir := t.TempDir()
	seed := map[string][]byte{"fraud/list.txt": []byte("sample\n")}
	s, err := embedded.StartS3(context.Background(), embedded.S3Config{Bucket: "auction", Seed: seed, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := s3Get(t, s.Endpoint()+"/auction/fraud/list.txt"); got != "sample\n" {
		t.Fatalf("seeded object: %q", got)
	}
	req, _ := http.NewRequest(http.MethodPut, s.Endpoint()+"/auction/fraud/list.txt", strings.NewReader("changed\n"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", res.Status)
	}
	s.Close()

	seed["other.txt"] = []byte("new seed\n")
	s, err = embedded.StartS3(context.Background(), embedded.S3Config{Bucket: "auction", Seed: seed, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if got := s3Get(t, s.Endpoint()+"/auction/fraud/list.txt"); got != "changed\n" {
		t.Fatalf("object after the restart: %q, want the PUT one", got)
	}
	if got := s3Get(t, s.Endpoint()+"/auction/other.txt"); got != "new seed\n" {
		t.Fatalf("missing seeded object after the restart: %q", got)
	}
}

func s3Get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, res.Status, b)
	}
	return string(b)
}
