package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// benchMembership returns a quorum of n joined workers (clients are nil: Pick
// only hands them out).
func benchMembership(b *testing.B, n int) *Membership {
	b.Helper()
	m := NewMembership(MembershipConfig{ClusterToken: "t", HeartbeatInterval: time.Minute, MissedHeartbeats: 3},
		newMemRegistry(time.Now), func(_, _ string) WorkerClient { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range n {
		if err := m.Join(context.Background(), fmt.Sprintf("w%d", i), fmt.Sprintf("http://127.0.0.1:%d", 9000+i), "t"); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// BenchmarkMembershipPick measures the worker selection of every read: a
// random member, and a random member other than the one that just failed.
func BenchmarkMembershipPick(b *testing.B) {
	for _, n := range []int{2, 16, 128} {
		m := benchMembership(b, n)
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := m.Pick(""); !ok {
					b.Fatal("no worker")
				}
			}
		})
		b.Run(fmt.Sprintf("workers=%d/exclude", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := m.Pick("w0"); !ok {
					b.Fatal("no worker")
				}
			}
		})
		b.Run(fmt.Sprintf("workers=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, ok := m.Pick(""); !ok {
						b.Fatal("no worker")
					}
				}
			})
		})
	}
}
