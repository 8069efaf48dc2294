package pool

import (
	"context"
	"sync"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Tenant shares: bulkheads inside the pool.
//
// Without them one tenant could hold every pooled connection: an identity
// provider sending thirty expensive filters at once, each well inside its
// tenant's request rate, left nothing for anyone else, and other tenants'
// plain reads waited out the acquire timeout. A share caps how many tenant
// transactions of one tenant run at once in this process (Config.TenantConns,
// a quarter of the pool by default). A transaction past the cap waits for
// one of its tenant's own to end, at most Config.TenantWait, and is then
// refused with ETOOMANY (429 with Retry-After): the tenant is slowed, the
// others keep their connections.
//
// The cap counts transactions, not connections: a transaction holds one
// connection for its whole life, so the two are the same, and counting
// before a connection is taken means that a tenant over its share never
// takes a connection from the pool just to wait.
type shares struct {
	max  int
	wait time.Duration

	mu   sync.Mutex
	busy map[string]share // only tenants with a transaction running or waiting
}

// share is one tenant's entry: its running transactions, and a channel
// closed when one of them ends, made only when someone waits.
type share struct {
	n     int
	freed chan struct{}
}

func newShares(max int, wait time.Duration) *shares {
	return &shares{max: max, wait: wait, busy: make(map[string]share)}
}

// errShareFull is what a transaction gets when its tenant holds its whole
// share for longer than the share's wait.
var errShareFull = app.Refusef(app.ETOOMANY, app.ReasonRateLimit,
	"too many requests at once for this tenant; retry shortly")

// acquire takes one of the tenant's places, waiting while the tenant holds
// all of them, at most sh.wait. It returns the function that gives the
// place back, ETOOMANY when none freed up in time, or ctx's error.
func (sh *shares) acquire(ctx context.Context, tenantID string) (release func(), err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		sh.mu.Lock()
		s := sh.busy[tenantID]
		if s.n < sh.max {
			s.n++
			sh.busy[tenantID] = s
			sh.mu.Unlock()
			return func() { sh.release(tenantID) }, nil
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
			sh.busy[tenantID] = s
		}
		freed := s.freed
		sh.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(sh.wait)
		}
		select {
		case <-freed:
		case <-timer.C:
			return nil, errShareFull
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release gives back a place and wakes the tenant's waiters, who compete
// for it again; an entry without transactions leaves the map.
func (sh *shares) release(tenantID string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.busy[tenantID]
	s.n--
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
	if s.n <= 0 {
		delete(sh.busy, tenantID)
		return
	}
	sh.busy[tenantID] = s
}
