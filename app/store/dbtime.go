package store

import (
	"context"
	"sync/atomic"
	"time"
)

// DBTime adds up the time spent in tenant transactions under one context,
// so that usage metering can tell database time from the rest of a
// request. It is safe for concurrent use.
type DBTime struct{ ns atomic.Int64 }

type dbTimeKey struct{}

// WithDBTime returns a context under which InTenant adds its time to t.
func WithDBTime(ctx context.Context, t *DBTime) context.Context {
	return context.WithValue(ctx, dbTimeKey{}, t)
}

// Duration returns the time added so far.
func (t *DBTime) Duration() time.Duration { return time.Duration(t.ns.Load()) }

// Reset sets the time added back to zero, for reuse.
func (t *DBTime) Reset() { t.ns.Store(0) }

// measure adds the time since start to the DBTime of ctx, if any.
func measure(ctx context.Context, start time.Time) {
	if t, ok := ctx.Value(dbTimeKey{}).(*DBTime); ok {
		t.ns.Add(int64(time.Since(start)))
	}
}
