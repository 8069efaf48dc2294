package tenant

import (
	"log/slog"
	"testing"
	"time"
)

// TestRateLimiterForgetsIdleTenants: a tenant's limiter is dropped once its
// bucket is full again, never while it still owes requests, so the map
// holds only recently active tenants and nobody gains a fresh burst.
func TestRateLimiterForgetsIdleTenants(t *testing.T) {
	r := NewRateLimiter(nil, slog.New(slog.DiscardHandler))
	p := Permissions{RequestsPerMinute: 60, Burst: 2} // one token a second
	for _, id := range []string{"a", "b"} {
		if ok, _ := r.Allow(id, p); !ok {
			t.Fatalf("first request of %s refused", id)
		}
	}
	r.Allow("b", p) // b's bucket is now empty
	r.forgetIdle(time.Now())
	if len(r.limiters) != 2 {
		t.Fatalf("%d limiters kept right after use, want 2", len(r.limiters))
	}
	r.forgetIdle(time.Now().Add(1500 * time.Millisecond)) // a is full again, b is not
	if _, ok := r.limiters["a"]; ok || r.limiters["b"] == nil {
		t.Fatalf("after 1.5s: limiters %v, want only b", r.limiters)
	}
	r.forgetIdle(time.Now().Add(3 * time.Second))
	if len(r.limiters) != 0 {
		t.Fatalf("after 3s: %d limiters, want none", len(r.limiters))
	}
}
