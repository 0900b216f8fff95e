package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// Two deployments ("a" and "b") on one Redis: whatever one writes, the other
// neither sees, replays nor blocks on (issue 13: one stack's buffered events
// were replayed into another's broker).

var deploymentA, deploymentB = clustername.MustParse("a"), clustername.MustParse("b")

func TestWriteBuffersOfTwoDeploymentsStayApart(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	// The same dispatcher id in both, as two stacks started alike would have.
	a := redis.NewWriteBuffer(rdb, deploymentA, "dispatcher-1", quiet())
	b := redis.NewWriteBuffer(rdb, deploymentB, "dispatcher-1", quiet())
	if err := a.Append(ctx, app.Message{ID: "e1", Topic: "a.items", Key: "i1", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, app.Message{ID: "e2", Topic: "b.items", Key: "i2", Value: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if held, err := b.Holds(ctx, "i1"); err != nil || held {
		t.Fatalf("b holds a's item: %v %v", held, err)
	}
	if held, err := a.Holds(ctx, "i2"); err != nil || held {
		t.Fatalf("a holds b's item: %v %v", held, err)
	}
	for name, buf := range map[string]*redis.WriteBuffer{"a": a, "b": b} {
		if depth, _, err := buf.Depth(ctx); err != nil || depth != 1 {
			t.Fatalf("%s's depth %d (%v), want 1", name, depth, err)
		}
	}
	assertKeysUnder(t, rdb.Keys(ctx, "*").Val(), "a:wbuf:", "b:wbuf:")
	// Each replayer publishes its own deployment's event and nothing else.
	for name, buf := range map[string]*redis.WriteBuffer{"a": a, "b": b} {
		var published []string
		broker := brokerFunc(func(_ context.Context, topic string, _, _ []byte, _ map[string]string) error {
			published = append(published, topic)
			return nil
		})
		if n, err := app.NewReplayer(buf, broker, time.Second, time.Second, quiet()).ReplayOnce(ctx); err != nil || n != 1 {
			t.Fatalf("%s replayed %d (%v), want 1", name, n, err)
		}
		if len(published) != 1 || published[0] != name+".items" {
			t.Fatalf("%s published %v, want [%s.items]", name, published, name)
		}
	}
}

func TestReplayLeasesOfTwoDeploymentsAreIndependent(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	// The same dispatcher id in both: the lease is still per deployment.
	a := redis.NewWriteBuffer(rdb, deploymentA, "dispatcher-1", quiet())
	b := redis.NewWriteBuffer(rdb, deploymentB, "dispatcher-2", quiet())
	if ok, err := a.Lease(ctx, time.Minute); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.Lease(ctx, time.Minute); !ok || err != nil {
		t.Fatalf("b could not take its own lease while a holds a's: %v %v", ok, err)
	}
	if v := rdb.Get(ctx, "a:wbuf:lease").Val(); v != "dispatcher-1" {
		t.Errorf("a:wbuf:lease = %q", v)
	}
	if v := rdb.Get(ctx, "b:wbuf:lease").Val(); v != "dispatcher-2" {
		t.Errorf("b:wbuf:lease = %q", v)
	}
}

func TestFraudListsOfTwoDeploymentsFollowTheirOwnKeys(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	ka, kb := fraudlist.KeysFor(deploymentA), fraudlist.KeysFor(deploymentB)
	if ka.Set != "a:fraud:clients" || ka.Version != "a:fraud:version" || ka.Updates != "a:fraud:updates" {
		t.Fatalf("keys of a: %+v", ka)
	}
	rdb.SAdd(ctx, ka.Set, "mallory")
	rdb.Set(ctx, ka.Version, "va", 0)
	rdb.SAdd(ctx, kb.Set, "eve")
	rdb.Set(ctx, kb.Version, "vb", 0)
	a := redis.NewFraudList(rdb, ka, time.Hour, quiet())
	b := redis.NewFraudList(rdb, kb, time.Hour, quiet())
	if err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.Flagged("mallory") || a.Flagged("eve") || a.Size() != 1 {
		t.Errorf("a's list: mallory %v eve %v size %d, want only mallory", a.Flagged("mallory"), a.Flagged("eve"), a.Size())
	}
	if !b.Flagged("eve") || b.Flagged("mallory") || b.Size() != 1 {
		t.Errorf("b's list: eve %v mallory %v size %d, want only eve", b.Flagged("eve"), b.Flagged("mallory"), b.Size())
	}

	// An announcement on a's channel reloads a, not b.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rdb.Set(ctx, ka.Version, "va1", 0)
	rdb.Set(ctx, kb.Version, "vb1", 0)
	go a.Run(runCtx)
	go b.Run(runCtx)
	// Both followers subscribed and made their start reload.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, va := a.Age()
		_, vb := b.Age()
		if va == "va1" && vb == "vb1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("start reloads: a at %q, b at %q", va, vb)
		}
	}
	rdb.SAdd(ctx, ka.Set, "trudy")
	rdb.SAdd(ctx, kb.Set, "oscar") // not announced: b keeps its list
	deadline := time.Now().Add(5 * time.Second)
	for !a.Flagged("trudy") {
		if time.Now().After(deadline) {
			t.Fatal("a did not reload on its announcement")
		}
		rdb.Publish(ctx, ka.Updates, "va2")
		time.Sleep(20 * time.Millisecond)
	}
	if b.Flagged("oscar") {
		t.Error("b reloaded on a's announcement")
	}
}

func TestIDClaimsOfTwoDeploymentsAreIndependent(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	a, b := redis.NewIDClaims(rdb, deploymentA), redis.NewIDClaims(rdb, deploymentB)
	if h, made, err := a.Claim(ctx, "ring-1", "fp-a"); err != nil || !made || h != "fp-a" {
		t.Fatalf("a: %q %v %v", h, made, err)
	}
	if h, made, err := b.Claim(ctx, "ring-1", "fp-b"); err != nil || !made || h != "fp-b" {
		t.Fatalf("b could not claim an id a holds: %q %v %v", h, made, err)
	}
	assertKeysUnder(t, rdb.Keys(ctx, "*").Val(), "a:item-ids:", "b:item-ids:")
	if err := b.Release(ctx, "ring-1", "fp-b"); err != nil {
		t.Fatal(err)
	}
	if h, made, err := a.Claim(ctx, "ring-1", "fp-other"); err != nil || made || h != "fp-a" {
		t.Fatalf("a's claim after b released its own: %q %v %v, want fp-a held", h, made, err)
	}
	if k := redis.ClaimKey(deploymentA, "ring-1"); rdb.HGet(ctx, k, "ring-1").Val() != "fp-a" {
		t.Errorf("%s ring-1 = %q", k, rdb.HGet(ctx, k, "ring-1").Val())
	}
}

// assertKeysUnder fails unless every key starts with one of prefixes and
// each prefix has a key.
func assertKeysUnder(t *testing.T, keys []string, prefixes ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range keys {
		ok := false
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				ok, seen[p] = true, true
			}
		}
		if !ok {
			t.Errorf("key %q is under none of %v", k, prefixes)
		}
	}
	for _, p := range prefixes {
		if !seen[p] {
			t.Errorf("no key under %q (keys %v)", p, keys)
		}
	}
}
