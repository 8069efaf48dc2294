package credential

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestAuthCacheBounded: a full token cache drops expired entries first, and
// arbitrary ones when none expired, so it never exceeds MaxCachedTokens.
func TestAuthCacheBounded(t *testing.T) {
	a := &Auth{entries: map[[32]byte]authEntry{}}
	now := time.Now()
	fill := func(from, n int, expires time.Time) {
		for i := from; i < from+n; i++ {
			var k [32]byte
			binary.BigEndian.PutUint64(k[:], uint64(i))
			a.entries[k] = authEntry{expires: expires}
		}
	}
	fill(0, 100, now.Add(-time.Second))
	fill(100, MaxCachedTokens-100, now.Add(time.Minute))
	shrink(a.entries, now, func(e authEntry) time.Time { return e.expires })
	if got := len(a.entries); got != MaxCachedTokens-100 {
		t.Fatalf("after dropping expired entries: %d, want %d", got, MaxCachedTokens-100)
	}
	fill(MaxCachedTokens, 100, now.Add(time.Minute))
	shrink(a.entries, now, func(e authEntry) time.Time { return e.expires })
	if got := len(a.entries); got >= MaxCachedTokens*7/8+1 || got < MaxCachedTokens*7/8-1 {
		t.Fatalf("after shrinking a full cache of live entries: %d, want about %d", got, MaxCachedTokens*7/8)
	}
}

// TestCachedTokenExpires: a cached token stops working at its expiry, not
// when its cache entry would have run out.
func TestCachedTokenExpires(t *testing.T) {
	ctx := context.Background()
	tenants := tenant.NewService(storetest.NewDB(t))
	svc := NewService(tenants)
	if _, _, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: "acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(2 * time.Second)
	tok, err := tenants.CreateToken(ctx, "acme", "short", &expires, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuth(svc, slog.New(slog.DiscardHandler))
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Run(rctx)
	// Behind PgBouncer the listener hears nothing and the cache stays off;
	// the expired token must be refused all the same.
	waitListening(t, a)
	if _, err := a.Authenticate(ctx, tok.Secret); err != nil {
		t.Fatalf("before its expiry: %v", err)
	}
	a.mu.Lock()
	if cached := len(a.entries); a.listening && cached != 1 {
		t.Fatalf("%d cached tokens, want 1", cached)
	}
	a.mu.Unlock()
	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	if _, err := a.Authenticate(ctx, tok.Secret); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("after its expiry: %v, want unauthorized", err)
	}
}

// waitListening returns once a's cache is on. Behind PgBouncer the listener
// hears nothing and it never is.
func waitListening(t *testing.T, a *Auth) {
	t.Helper()
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		return
	}
	select {
	case <-a.Listening():
	case <-time.After(10 * time.Second): // a safety net
		t.Fatal("the change listener did not confirm it listens")
	}
}

// TestAuthSync: a token cached while listening is refused on the first
// call after a revocation and Sync, with no wait for the notification;
// before Run listens, Sync returns at once, every call reading the
// database.
func TestAuthSync(t *testing.T) {
	ctx := context.Background()
	tenants := tenant.NewService(storetest.NewDB(t))
	svc := NewService(tenants)
	if _, _, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: "acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	tok, err := tenants.CreateToken(ctx, "acme", "cached", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuth(svc, slog.New(slog.DiscardHandler))
	if err := a.Sync(ctx); err != nil {
		t.Fatalf("sync before listening: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Run(rctx)
	waitListening(t, a)
	if _, err := a.Authenticate(ctx, tok.Secret); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.RevokeToken(ctx, "acme", tok.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(ctx, 10*time.Second) // a safety net
	defer stop()
	if err := a.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, tok.Secret); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("after the revocation: %v, want unauthorized", err)
	}
}
