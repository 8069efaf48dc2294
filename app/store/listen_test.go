package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestSubscribe: subscribers of two channels share one LISTEN connection;
// each hears only its channel's notifications; when that connection is
// killed they hear Lost and then Reconnected, and notifications arrive
// again.
func TestSubscribe(t *testing.T) {
	db := storetest.NewListeningDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := map[string]chan store.Event{"bh_test_a": make(chan store.Event, 100), "bh_test_b": make(chan store.Event, 100)}
	for ch, c := range events {
		if err := db.Subscribe(ctx, ch, func(e store.Event) { c <- e }); err != nil {
			t.Fatal(err)
		}
	}
	next := func(ch string, want store.EventKind) store.Event {
		t.Helper()
		for {
			select {
			case e := <-events[ch]:
				if e.Kind == want {
					return e
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: no event of kind %d", ch, want)
			}
		}
	}
	notify := func(ch, payload string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ch, payload); err != nil {
			t.Fatal(err)
		}
	}
	notify("bh_test_a", "one")
	notify("bh_test_b", "two")
	if e := next("bh_test_a", store.Notified); e.Payload != "one" {
		t.Fatalf("channel a heard %q, want one", e.Payload)
	}
	if e := next("bh_test_b", store.Notified); e.Payload != "two" {
		t.Fatalf("channel b heard %q, want two", e.Payload)
	}

	var pids []int
	const q = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
	if err := db.SelectContext(ctx, &pids, q); err != nil {
		t.Fatal(err)
	}
	if len(pids) != 1 {
		t.Fatalf("%d LISTEN connections, want 1", len(pids))
	}

	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
	for ch := range events {
		next(ch, store.Lost)
		next(ch, store.Reconnected)
	}
	notify("bh_test_a", "three")
	if e := next("bh_test_a", store.Notified); e.Payload != "three" {
		t.Fatalf("after the reconnect channel a heard %q, want three", e.Payload)
	}
}
