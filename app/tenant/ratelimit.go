package tenant

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// RateLimiter enforces each tenant's requests_per_minute and burst.
//
// The budget is shared across instances without a database write per
// request: every instance registers itself in control.instances and renews
// its heartbeat every few seconds, counts the live instances, and enforces
// its equal share of each tenant's budget (requests_per_minute / n, burst /
// n, at least 1). Behind a load balancer that spreads requests evenly this
// adds up to the tenant's limit; when instances come and go, the shares
// follow within a heartbeat.
type RateLimiter struct {
	svc       *Service
	log       *slog.Logger
	id        uuid.UUID
	instances atomic.Int64

	mu       sync.Mutex
	limiters map[string]*tenantLimiter
}

type tenantLimiter struct {
	lim        *rate.Limiter
	rpm, burst int
	share      int64
}

// NewRateLimiter returns a limiter that counts itself as the only instance
// until Run has registered it.
func NewRateLimiter(svc *Service, log *slog.Logger) *RateLimiter {
	r := &RateLimiter{svc: svc, log: log, id: uuid.New(), limiters: map[string]*tenantLimiter{}}
	r.instances.Store(1)
	return r
}

// Allow takes one request from the tenant's budget. When the budget is
// spent it returns false and how long until a request would be allowed.
func (r *RateLimiter) Allow(tenantID string, p Permissions) (bool, time.Duration) {
	n := r.instances.Load()
	r.mu.Lock()
	tl := r.limiters[tenantID]
	if tl == nil || tl.rpm != p.RequestsPerMinute || tl.burst != p.Burst || tl.share != n {
		perSecond := float64(p.RequestsPerMinute) / 60 / float64(n)
		burst := int(math.Max(1, math.Ceil(float64(p.Burst)/float64(n))))
		if tl == nil {
			tl = &tenantLimiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
			r.limiters[tenantID] = tl
		} else {
			tl.lim.SetLimit(rate.Limit(perSecond))
			tl.lim.SetBurst(burst)
		}
		tl.rpm, tl.burst, tl.share = p.RequestsPerMinute, p.Burst, n
	}
	r.mu.Unlock()
	now := time.Now()
	if tl.lim.AllowN(now, 1) {
		return true, 0
	}
	// Spent: a reservation, cancelled at once, tells how long to wait.
	res := tl.lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	res.CancelAt(now)
	return false, wait
}

// forgetIdle drops the limiters of tenants idle long enough for their
// bucket to be full again: a new limiter starts full, so nothing changes for
// the tenant, and the map holds only recently active tenants.
func (r *RateLimiter) forgetIdle(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, tl := range r.limiters {
		if tl.lim.TokensAt(now) >= float64(tl.lim.Burst()) {
			delete(r.limiters, id)
		}
	}
}

// heartbeat is how often an instance renews its registration; an instance
// silent for three heartbeats no longer counts.
const heartbeat = 5 * time.Second

// Run registers this instance and keeps its heartbeat and the count of live
// instances current until ctx ends; then it unregisters.
func (r *RateLimiter) Run(ctx context.Context) {
	defer func() {
		_, _ = r.svc.DB.ExecContext(context.Background(), `DELETE FROM control.instances WHERE id = $1`, r.id)
	}()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *RateLimiter) beat(ctx context.Context) {
	const q = `
		WITH me AS (
			INSERT INTO control.instances (id) VALUES ($1)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
		)
		SELECT count(*) + 1 FROM control.instances WHERE id <> $1 AND heartbeat_at > now() - $2 * interval '1 second'`
	var n int64
	if err := r.svc.DB.GetContext(ctx, &n, q, r.id, 3*heartbeat.Seconds()); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("instance heartbeat", "error", err)
		}
		return
	}
	r.instances.Store(n)
	r.forgetIdle(time.Now())
	// Forget long-gone instances.
	_, _ = r.svc.DB.ExecContext(ctx, `DELETE FROM control.instances WHERE heartbeat_at < now() - interval '1 hour'`)
}
