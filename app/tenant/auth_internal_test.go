package tenant

import (
	"encoding/binary"
	"testing"
	"time"
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
