package redis_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/feeder/adapters/redis"
	goredis "github.com/redis/go-redis/v9"
)

// testDB is the database the tests use on a real Redis, never the db 0 that
// a developer's services use. The tests delete only the fraudlist keys in
// it, and take testLock first so that two runs at once (two developers, or
// two packages) do not interleave.
const (
	testDB   = 15
	testLock = "fraud:test-lock"
)

// testKeys are the fraud list's names for this run's own deployment name,
// so that the tests never touch a list a developer's services use, even on a
// real Redis.
var testKeys = fraudlist.KeysFor(clustername.MustParse(fmt.Sprintf("feeder-test-%d", os.Getpid())))

// backend is a Redis the tests may write the fraudlist keys of.
type backend struct {
	name string
	url  string
}

// backends returns the embedded Redis, always, and the real one when
// REDIS_URL is set or 127.0.0.1:6379 answers, pointed at testDB.
func backends(t *testing.T) []backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mini, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mini.Close)
	out := []backend{{name: "miniredis", url: mini.URL()}}

	realURL := os.Getenv("REDIS_URL")
	if realURL == "" {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:6379", 300*time.Millisecond)
		if err != nil {
			t.Logf("no Redis at 127.0.0.1:6379 and no REDIS_URL: miniredis only")
			return out
		}
		_ = conn.Close()
		realURL = "redis://127.0.0.1:6379/0"
	}
	u, err := url.Parse(realURL)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(testDB)
	return append(out, backend{name: "redis", url: u.String()})
}

// client opens a plain client on b for the test's own checks, holds the
// test lock on a real Redis, and clears the fraudlist keys before and after.
func client(t *testing.T, ctx context.Context, b backend) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(b.url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s: %v", b.name, err)
	}
	token := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
	for {
		ok, err := c.SetNX(ctx, testLock, token, 30*time.Second).Result()
		if err != nil {
			t.Fatalf("take the test lock: %v", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the test lock %s stayed taken: %v", testLock, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	wipe := func() {
		keys := []string{testKeys.Set, testKeys.Version}
		iter := c.Scan(context.Background(), 0, testKeys.Set+":next:*", 100).Iterator()
		for iter.Next(context.Background()) {
			keys = append(keys, iter.Val())
		}
		_ = c.Del(context.Background(), keys...).Err()
	}
	wipe()
	t.Cleanup(func() {
		wipe()
		// Release only our own lock.
		_ = c.Eval(context.Background(), `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`,
			[]string{testLock}, token).Err()
	})
	return c
}

func members(t *testing.T, ctx context.Context, c *goredis.Client) []string {
	t.Helper()
	m, err := c.SMembers(ctx, testKeys.Set).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// awaitVersion waits on sub for version, skipping announcements of other
// versions (pub/sub channels are shared by every database of a server).
func awaitVersion(t *testing.T, ctx context.Context, sub *goredis.PubSub, version string) {
	t.Helper()
	for {
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("waiting for %q on %s: %v", version, testKeys.Updates, err)
		}
		if msg.Channel == testKeys.Updates && msg.Payload == version {
			return
		}
	}
}

func TestRedisReplaceAnnouncesAndSwapsTheWholeSet(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			c := client(t, ctx, b)
			store, err := redis.Connect(b.url, testKeys)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()

			if v, err := store.Version(ctx); err != nil || v != "" {
				t.Fatalf("Version before any list: %q, %v", v, err)
			}
			if n, err := store.Size(ctx); err != nil || n != 0 {
				t.Fatalf("Size before any list: %d, %v", n, err)
			}
			sub := c.Subscribe(ctx, testKeys.Updates)
			defer sub.Close()
			if _, err := sub.Receive(ctx); err != nil { // subscription confirmed
				t.Fatal(err)
			}

			// A list larger than one SADD batch.
			var ids []string
			for i := range 2500 {
				ids = append(ids, fmt.Sprintf("client-%04d", i))
			}
			if err := store.Replace(ctx, ids, "v1"); err != nil {
				t.Fatal(err)
			}
			awaitVersion(t, ctx, sub, "v1")
			if got := members(t, ctx, c); !slices.Equal(got, ids) {
				t.Fatalf("SMEMBERS after v1: %d ids, want %d", len(got), len(ids))
			}
			if v, _ := store.Version(ctx); v != "v1" {
				t.Fatalf("Version %q", v)
			}
			if n, err := store.Size(ctx); err != nil || n != 2500 {
				t.Fatalf("Size after v1: %d, %v", n, err)
			}
			if ttl := c.TTL(ctx, testKeys.Set).Val(); ttl != -1 {
				t.Fatalf("the list in force has a TTL (%v): RENAME carried the temporary key's over", ttl)
			}

			// Readers see the old set or the new one, never a mix.
			stop, seen := make(chan struct{}), make(chan []int64, 1)
			go func() {
				var odd []int64
				for {
					select {
					case <-stop:
						seen <- odd
						return
					default:
					}
					if n, err := c.SCard(ctx, testKeys.Set).Result(); err == nil && n != 2500 && n != 1 {
						odd = append(odd, n)
					}
				}
			}()
			for i := range 4 {
				next := ids
				if i%2 == 0 {
					next = []string{"trent"}
				}
				if err := store.Replace(ctx, next, fmt.Sprintf("swap-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			if odd := <-seen; len(odd) > 0 {
				t.Fatalf("a reader saw a half-built set: sizes %v", odd)
			}

			// Removals take effect: the set is replaced, not merged.
			if err := store.Replace(ctx, []string{"eve", "mallory"}, "v2"); err != nil {
				t.Fatal(err)
			}
			awaitVersion(t, ctx, sub, "v2")
			if got := members(t, ctx, c); !slices.Equal(got, []string{"eve", "mallory"}) {
				t.Fatalf("SMEMBERS after v2: %q", got)
			}

			// An empty list clears the set and is still announced.
			if err := store.Replace(ctx, nil, "v3"); err != nil {
				t.Fatal(err)
			}
			awaitVersion(t, ctx, sub, "v3")
			if n := c.Exists(ctx, testKeys.Set).Val(); n != 0 {
				t.Fatalf("the set survived an empty list: %q", members(t, ctx, c))
			}
			if v, _ := store.Version(ctx); v != "v3" {
				t.Fatalf("Version %q", v)
			}
			if n, err := store.Size(ctx); err != nil || n != 0 {
				t.Fatalf("Size after an empty list: %d, %v", n, err)
			}
			if left := c.Keys(ctx, testKeys.Set+":next:*").Val(); len(left) != 0 {
				t.Fatalf("temporary keys left behind: %q", left)
			}
		})
	}
}

func TestRedisReplaceFailsCleanlyWhenDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	store, err := redis.Connect(r.URL(), testKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Replace(ctx, []string{"a"}, "v1"); err != nil {
		t.Fatal(err)
	}
	r.Miniredis().SetError("LOADING Redis is loading the dataset in memory")
	if err := store.Replace(ctx, []string{"b"}, "v2"); err == nil {
		t.Fatal("Replace succeeded on a failing Redis")
	}
	if _, err := store.Version(ctx); err == nil {
		t.Fatal("Version succeeded on a failing Redis")
	}
	if _, err := store.Size(ctx); err == nil {
		t.Fatal("Size succeeded on a failing Redis")
	}
	r.Miniredis().SetError("")
	if members, _ := r.Miniredis().Members(testKeys.Set); !slices.Equal(members, []string{"a"}) {
		t.Fatalf("the list in force changed: %q", members)
	}
	if v, _ := store.Version(ctx); v != "v1" {
		t.Fatalf("version %q", v)
	}
}

func TestRedisConnectRejectsABadURL(t *testing.T) {
	if _, err := redis.Connect("http://nope", testKeys); err == nil {
		t.Fatal("want an error")
	}
}

// TestRedisStoresOfTwoDeploymentsStayApart: two feeders of two deployments
// on one Redis each replace and announce their own list only.
func TestRedisStoresOfTwoDeploymentsStayApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ka, kb := fraudlist.KeysFor(clustername.MustParse("a")), fraudlist.KeysFor(clustername.MustParse("b"))
	a, err := redis.Connect(r.URL(), ka)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := redis.Connect(r.URL(), kb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Replace(ctx, []string{"mallory", "eve"}, "va"); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Version(ctx); v != "" {
		t.Fatalf("b sees a's version %q", v)
	}
	if err := b.Replace(ctx, nil, "vb"); err != nil { // b's empty list clears b's only
		t.Fatal(err)
	}
	if n, err := a.Size(ctx); err != nil || n != 2 {
		t.Fatalf("a's list after b cleared its own: %d (%v)", n, err)
	}
	if va, _ := a.Version(ctx); va != "va" {
		t.Fatalf("a's version %q", va)
	}
	if m, _ := r.Miniredis().Members("a:fraud:clients"); !slices.Equal(m, []string{"eve", "mallory"}) {
		t.Fatalf("a:fraud:clients = %q", m)
	}
	for _, k := range r.Miniredis().Keys() {
		if k != "a:fraud:clients" && k != "a:fraud:version" && k != "b:fraud:version" {
			t.Errorf("unexpected key %q", k)
		}
	}
}
