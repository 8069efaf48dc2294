package store

import (
	"context"
	"testing"
	"time"
)

// TestListenerLostAtOnce: a connection that fails at its first attempt,
// which may call back before pq.NewListener returns, tells subscribers
// it is lost (and the race detector finds no unsynchronised read).
func TestListenerLostAtOnce(t *testing.T) {
	l := &listener{dsn: "postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=1", subs: map[string]map[*subscription]struct{}{}}
	lost := make(chan struct{}, 1)
	db := &DB{listen: l}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = db.Subscribe(ctx, "nowhere", func(e Event) {
			if e.Kind == Lost {
				select {
				case lost <- struct{}{}:
				default:
				}
			}
		})
	}()
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("no Lost event from a connection that cannot be made")
	}
}
