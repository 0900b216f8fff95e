package redis_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

func listed(t testing.TB, r *redis.Registry) map[string]app.Registration {
	t.Helper()
	regs, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]app.Registration{}
	for _, e := range regs {
		out[e.ID] = e
	}
	return out
}

func TestRegistryRegisterRefreshRemove(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	r := redis.NewRegistry(rdb, clustername.MustParse("shop"))
	joined := time.UnixMilli(1_700_000_000_000)
	if holder, err := r.Register(ctx, "w1", "https://10.0.0.1:9101", joined, time.Minute); err != nil || holder != "" {
		t.Fatalf("register: %q %v", holder, err)
	}
	// Another address while w1 is live: refused with the holder's address.
	if holder, err := r.Register(ctx, "w1", "https://10.0.0.9:9101", joined, time.Minute); err != nil || holder != "https://10.0.0.1:9101" {
		t.Fatalf("register elsewhere: %q %v", holder, err)
	}
	// A rejoin at the same address keeps the first join time.
	if holder, err := r.Register(ctx, "w1", "https://10.0.0.1:9101", joined.Add(time.Hour), time.Minute); err != nil || holder != "" {
		t.Fatalf("rejoin: %q %v", holder, err)
	}
	e := listed(t, r)["w1"]
	if e.Address != "https://10.0.0.1:9101" || !e.JoinedAt.Equal(joined) || e.TTLLeft <= 50*time.Second || e.TTLLeft > time.Minute {
		t.Fatalf("entry %+v", e)
	}
	// The keys are under the deployment's name.
	if n, err := rdb.Exists(ctx, "shop:worker:w1", "shop:workers").Result(); err != nil || n != 2 {
		t.Fatalf("keys shop:worker:w1 and shop:workers: %d %v", n, err)
	}
	if ok, err := r.Refresh(ctx, "w1", time.Hour); err != nil || !ok {
		t.Fatalf("refresh: %v %v", ok, err)
	}
	if e := listed(t, r)["w1"]; e.TTLLeft <= time.Minute {
		t.Fatalf("refresh did not extend the entry: %v left", e.TTLLeft)
	}
	if ok, err := r.Refresh(ctx, "w9", time.Hour); err != nil || ok {
		t.Fatalf("refresh of an unknown worker: %v %v", ok, err)
	}
	if err := r.Remove(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, r); len(got) != 0 {
		t.Fatalf("listed %v after remove", got)
	}
	if ok, _ := r.Refresh(ctx, "w1", time.Hour); ok {
		t.Fatal("a removed worker was refreshed: it must join again")
	}
}

// TestRegistryEntriesExpire: Redis's own clock ends an entry after its
// TTL; the listing drops it and prunes the index.
func TestRegistryEntriesExpire(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	r := redis.NewRegistry(rdb, clustername.MustParse("shop"))
	if _, err := r.Register(ctx, "short", "https://10.0.0.1:9101", time.Now(), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(ctx, "long", "https://10.0.0.2:9101", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := listed(t, r)
		if _, ok := got["short"]; !ok {
			if _, ok := got["long"]; !ok {
				t.Fatal("the long-lived entry expired too")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the short entry never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids, err := rdb.SMembers(ctx, "shop:workers").Result()
	if err != nil || !slices.Equal(ids, []string{"long"}) {
		t.Fatalf("index %v %v, want the expired id pruned", ids, err)
	}
	if holder, err := r.Register(ctx, "short", "https://10.0.0.7:9101", time.Now(), time.Minute); err != nil || holder != "" {
		t.Fatalf("an expired id is free to take: %q %v", holder, err)
	}
}

// TestRegistrySkipsForeignEntries: values that are not ours, too large, or
// written without a TTL (they would never expire) are not listed.
func TestRegistrySkipsForeignEntries(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	r := redis.NewRegistry(rdb, clustername.MustParse("shop"))
	rdb.Set(ctx, "shop:worker:garbage", "not an entry", time.Minute)
	rdb.Set(ctx, "shop:worker:forever", "1 https://10.0.0.1:9101", 0)
	rdb.Set(ctx, "shop:worker:huge", "1 https://"+string(make([]byte, 4096)), time.Minute)
	rdb.SAdd(ctx, "shop:workers", "garbage", "forever", "huge")
	if _, err := r.Register(ctx, "w1", "https://10.0.0.2:9101", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range listed(t, r) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if !slices.Equal(ids, []string{"w1"}) {
		t.Fatalf("listed %v, want only w1", ids)
	}
}

// TestRegistriesOfTwoDeploymentsStayApart: one Redis, two CLUSTER_NAMEs.
func TestRegistriesOfTwoDeploymentsStayApart(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	a := redis.NewRegistry(rdb, clustername.MustParse("staging"))
	b := redis.NewRegistry(rdb, clustername.MustParse("production"))
	if _, err := a.Register(ctx, "w1", "https://10.0.0.1:9101", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if holder, err := b.Register(ctx, "w1", "https://10.0.9.1:9101", time.Now(), time.Minute); err != nil || holder != "" {
		t.Fatalf("the same id in another deployment: %q %v", holder, err)
	}
	if e := listed(t, a)["w1"]; e.Address != "https://10.0.0.1:9101" {
		t.Fatalf("staging sees %+v", e)
	}
	if e := listed(t, b)["w1"]; e.Address != "https://10.0.9.1:9101" {
		t.Fatalf("production sees %+v", e)
	}
	if err := b.Remove(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed(t, a)["w1"]; !ok {
		t.Fatal("a leave in production removed staging's worker")
	}
}

// TestRegistryAnnouncesChanges: a dispatcher watching hears another's
// register and remove; another deployment's changes are not heard.
func TestRegistryAnnouncesChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := newClient(t)
	watcher := redis.NewRegistry(rdb, clustername.MustParse("shop"))
	writer := redis.NewRegistry(rdb, clustername.MustParse("shop"))
	foreign := redis.NewRegistry(rdb, clustername.MustParse("other"))
	heard := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, func() { heard <- struct{}{} }) }()
	// The subscription is asynchronous: announce until heard.
	deadline := time.After(10 * time.Second)
	if _, err := foreign.Register(ctx, "x", "https://10.0.0.3:9101", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		if _, err := writer.Register(ctx, "w1", "https://10.0.0.1:9101", time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case <-heard:
			got = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no announcement heard")
		}
	}
	for len(heard) > 0 {
		<-heard
	}
	if _, err := foreign.Register(ctx, "y", "https://10.0.0.4:9101", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := writer.Remove(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-heard:
	case <-time.After(5 * time.Second):
		t.Fatal("remove not announced")
	}
	select {
	case <-heard:
		t.Fatal("heard another deployment's change, or one change twice")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
}
