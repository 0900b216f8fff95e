package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
)

// BenchmarkFraudListFlagged measures the fraud screening of every action: an
// in-memory lookup in the list loaded from Redis, for a listed and an
// unlisted client, with lists of several sizes.
func BenchmarkFraudListFlagged(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{2, 10_000, 1_000_000} {
		rdb := newClient(b)
		ids := make([]any, n)
		for i := range n {
			ids[i] = fmt.Sprintf("client-%d@example.com", i)
		}
		for i := 0; i < n; i += 10_000 {
			if err := rdb.SAdd(ctx, fraudlist.KeysFor(clustername.Name{}).Set, ids[i:min(i+10_000, n)]...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		f := redis.NewFraudList(rdb, fraudlist.KeysFor(clustername.Name{}), time.Hour, quiet())
		if err := f.Load(ctx); err != nil {
			b.Fatal(err)
		}
		listed, unlisted := fmt.Sprintf("client-%d@example.com", n/2), "alice@example.com"
		b.Run(fmt.Sprintf("clients=%d/listed", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !f.Flagged(listed) {
					b.Fatal("not flagged")
				}
			}
		})
		b.Run(fmt.Sprintf("clients=%d/unlisted", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f.Flagged(unlisted) {
					b.Fatal("flagged")
				}
			}
		})
		b.Run(fmt.Sprintf("clients=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if f.Flagged(unlisted) {
						b.Fatal("flagged")
					}
				}
			})
		})
	}
}

// BenchmarkIDClaimsClaim measures the claim every AddItem with a
// client-chosen id makes, new ids and an id already held, from parallel
// callers: on the embedded Redis its commands run one at a time under one
// lock, so a claim's cost there bounds the dev stack's write rate.
func BenchmarkIDClaimsClaim(b *testing.B) {
	ctx := context.Background()
	claims := redis.NewIDClaims(newClient(b), clustername.Name{})
	var n atomic.Int64 // ids stay new across the runs of one sub-benchmark
	b.Run("new", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("ring-%d", n.Add(1))
				if _, made, err := claims.Claim(ctx, id, "fp-"+id); err != nil || !made {
					b.Fatalf("claim %s: made %v, %v", id, made, err)
				}
			}
		})
	})
	b.Run("held", func(b *testing.B) {
		if _, _, err := claims.Claim(ctx, "held", "fp-a"); err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if h, made, err := claims.Claim(ctx, "held", "fp-b"); err != nil || made || h != "fp-a" {
					b.Fatalf("claim of a held id: holder %q, made %v, %v", h, made, err)
				}
			}
		})
	})
}
