package service_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWorkerUsesTheTopicsAndGroupOfItsDeployment: a worker of the
// deployment shop-2 creates shop-2.items, ... and their dead-letter topics,
// and consumes them in the group shop-2.workers, so that deployments sharing
// a Kafka never take each other's partitions.
func TestWorkerUsesTheTopicsAndGroupOfItsDeployment(t *testing.T) {
	b := startBackends(t)
	d := &fakeDispatcher{joins: make(chan string, 10), leaves: make(chan string, 10)}
	a := newWorker(t, b, d)
	a.RequireStart()
	defer a.RequireStop()
	receive(t, d.joins, "join")

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := listed.Names()
	slices.Sort(got)
	want := []string{"shop-2.buy-actions", "shop-2.buy-actions.dlq", "shop-2.items", "shop-2.items.dlq",
		"shop-2.pawn-actions", "shop-2.pawn-actions.dlq", "shop-2.sell-actions", "shop-2.sell-actions.dlq"}
	if !slices.Equal(got, want) {
		t.Errorf("topics %v, want %v", got, want)
	}
	for {
		groups, err := adm.ListGroups(ctx)
		if err == nil && slices.Contains(groups.Groups(), "shop-2.workers") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the group shop-2.workers never appeared (groups %v, %v)", groups.Groups(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
