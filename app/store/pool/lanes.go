package pool

import (
	"context"
	"errors"
	"hash/fnv"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Tenant lanes: affinity between tenants and connections.
//
// A backend pays once for each tenant schema it works in: it loads the
// catalog entries of the tables and indexes it touches (1–2 ms) and keeps
// them until it closes. A pool that hands out any free connection makes
// every backend see every tenant, so with thousands of tenants most
// transactions meet a backend that has not seen their tenant yet, or has
// dropped it (Config.MaxConnSchemas). A lane is a connection that serves a
// fixed share of the tenants, those whose id hashes to it: its backend
// holds the catalog of its share only, and stays warm. With 10,000 tenants
// and 15 lanes (the default pool of 30) a backend holds about 670 tenants
// (some 80 MB), all lanes together about what one copy of every tenant's
// catalog takes.
//
// A lane serves one transaction at a time. A transaction whose lane is
// busy with another tenant's transaction waits for it, at most
// Config.LaneWait, behind at most maxLaneWaiters others, then takes any
// connection from the pool: one whose backend has probably not seen the
// tenant, so that the transaction pays the tenant's catalog again, CPU
// taken from every other request on a loaded machine. Waiting costs only
// the waiter time: at 10,000 tenants and 8 clients sending back to back,
// waiting up to 5 ms behind one other sent 10–13% of transactions to a
// cold connection, waiting up to 20 ms behind up to three sent 1–2%
// (docs/scaling.md). A transaction whose own tenant holds or waits for the
// lane does not queue but takes a pooled connection at once, so that a
// tenant sending many requests at a time (an identity provider's full
// sync) is not funnelled through one connection; the pooled connections
// then soon know that tenant.
//
// Between transactions a lane keeps its connection out of the pool. When
// someone else needs a connection and the pool has none free and may open
// no more, an idle lane gives its connection back (lanes.watch): lanes do
// not make anyone wait long for a connection nobody is using. A lane
// without a connection takes one only when the pool can spare it, so under
// pressure lanes shrink to what the pool leaves them and grow back after.
// Lanes are half the pool by default: the other half serves transactions
// that found their lane busy and the control plane. (With three quarters,
// the pool was full most of the time under load, and lanes kept taking
// each other's connections: docs/scaling.md.)
//
// A lane also gives its connection back after ConnMaxIdleTime without
// work, and drops it once the connection is ConnMaxLifetime old or has
// worked in MaxConnSchemas schemas, as the pool would.
type lanes struct {
	p      *Pool
	lane   []lane
	closed atomic.Bool
	stop   chan struct{}
	stats  struct{ served, fallbacks, waited, returned atomic.Int64 }
	// idle counts the connections lanes hold between transactions:
	// database/sql counts them as in use.
	idle atomic.Int64
}

type lane struct {
	// tok holds the lane's token: its idle connection (nil when it has
	// none) and when that was last used. Whoever holds the token owns the
	// lane.
	tok chan held
	// waiters counts the transactions waiting for the lane.
	waiters atomic.Int32
	// holder is the tenant hash of the transaction that took the lane
	// last, waiter of the one that began waiting last while it still
	// waits (0: none): another transaction of either tenant does not
	// queue behind them.
	holder, waiter atomic.Uint32
}

type held struct {
	conn *sqlx.Conn
	used time.Time
}

// DefaultLaneWait is how long a transaction waits for its busy lane before
// it takes another connection (Config.LaneWait): several times what a
// SCIM transaction holds a lane on a loaded machine, and a few times what a
// backend new to the tenant would add.
const DefaultLaneWait = 20 * time.Millisecond

// maxLaneWaiters is how many transactions wait for one lane at most; more
// take a pooled connection at once.
const maxLaneWaiters = 3

// LaneStats counts what the lanes did since the pool was opened.
type LaneStats struct {
	Lanes int // lanes; 0 when they are off
	// Served counts tenant transactions that ran on their lane, Fallbacks
	// those that took another connection because it stayed busy for
	// Config.LaneWait, was busy with their own tenant, had enough waiters
	// already, or had no connection while the pool was full. Waited counts
	// transactions that waited for their busy lane, whether they got it
	// or fell back.
	Served, Fallbacks, Waited int64
	// Returned counts idle lane connections given back to the pool
	// because someone was waiting for one.
	Returned int64
	// Idle is how many connections lanes hold right now between
	// transactions; sql.DBStats counts them as in use.
	Idle int
}

func newLanes(p *Pool, n int) *lanes {
	ls := &lanes{p: p, lane: make([]lane, n), stop: make(chan struct{})}
	for i := range ls.lane {
		ls.lane[i].tok = make(chan held, 1)
		ls.lane[i].tok <- held{}
	}
	go ls.watch()
	return ls
}

// tenantHash is the hash of a tenant id that picks its lane.
func tenantHash(tenantID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	return h.Sum32()
}

// laneConn returns a connection for a transaction of the tenant,
// preferably its lane's, and the function that gives it back.
func (p *Pool) laneConn(ctx context.Context, tenantID string) (*sqlx.Conn, func(), error) {
	ls := p.lanes
	if ls == nil {
		return p.pooledConn(ctx)
	}
	hash := tenantHash(tenantID)
	ln := &ls.lane[hash%uint32(len(ls.lane))]
	l := ln.tok
	var h held
	select {
	case h = <-l:
	default:
		var got bool
		var err error
		if h, got, err = ls.await(ctx, ln, hash); err != nil {
			return nil, nil, err
		}
		if !got {
			ls.stats.fallbacks.Add(1)
			return p.pooledConn(ctx)
		}
	}
	ln.holder.Store(hash)
	if h.conn != nil {
		ls.idle.Add(-1)
	} else {
		// A lane takes only a connection the pool can spare: were it to
		// wait on a full pool, another idle lane would give its connection
		// back for it (watch), and that lane would take one in turn.
		if st := p.DB.Stats(); st.Idle == 0 && st.OpenConnections >= st.MaxOpenConnections {
			l <- h
			ls.stats.fallbacks.Add(1)
			return p.pooledConn(ctx)
		}
		c, err := p.Conn(ctx)
		if err != nil {
			l <- held{}
			return nil, nil, err
		}
		h.conn = c
	}
	ls.stats.served.Add(1)
	return h.conn, func() {
		h := ls.keep(h.conn)
		if h.conn != nil {
			ls.idle.Add(1)
		}
		l <- h
	}, nil
}

// await waits for a busy lane for a transaction of the tenant with the
// given hash, unless that tenant is busy on the lane already or enough
// others wait, and reports whether it got the lane.
func (ls *lanes) await(ctx context.Context, ln *lane, hash uint32) (held, bool, error) {
	if ln.holder.Load() == hash || ln.waiter.Load() == hash {
		return held{}, false, nil
	}
	defer ln.waiters.Add(-1)
	if ln.waiters.Add(1) > maxLaneWaiters {
		return held{}, false, nil
	}
	ls.stats.waited.Add(1)
	ln.waiter.Store(hash)
	defer ln.waiter.CompareAndSwap(hash, 0)
	t := time.NewTimer(ls.p.cfg.LaneWait)
	defer t.Stop()
	select {
	case h := <-ln.tok:
		return h, true, nil
	case <-t.C:
		return held{}, false, nil
	case <-ctx.Done():
		return held{}, false, ctx.Err()
	}
}

// pooledConn is laneConn without a lane.
func (p *Pool) pooledConn(ctx context.Context) (*sqlx.Conn, func(), error) {
	c, err := p.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

// errRetire tells keep that a lane's connection has served its time.
var errRetire = errors.New("retire the connection")

// keep returns the token for a lane whose transaction on c has ended: c
// again, or none when c is broken, too old or full of schemas, or the pool
// is closing; c then goes back to the pool, which closes it.
func (ls *lanes) keep(c *sqlx.Conn) held {
	err := c.Raw(func(dc any) error {
		cn, ok := dc.(*conn)
		if !ok || !cn.IsValid() || time.Now().After(cn.expires) {
			return errRetire
		}
		return nil
	})
	if err != nil || ls.closed.Load() {
		c.Close()
		return held{}
	}
	return held{conn: c, used: time.Now()}
}

// watch gives lane connections back to the pool, until the pool closes:
// one at a time while someone waits for a connection the pool does not
// have, and those idle for longer than ConnMaxIdleTime. database/sql tells
// no one that a caller waits, so watch looks at the pool's statistics every
// watchEvery: a caller waits that long at most for a connection an idle
// lane holds.
func (ls *lanes) watch() {
	idle := ls.p.cfg.ConnMaxIdleTime
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	var waits int64
	pressed := false
	swept := time.Now()
	for {
		select {
		case <-ls.stop:
			return
		case now := <-t.C:
			s := ls.p.DB.Stats()
			full := s.Idle == 0 && s.OpenConnections >= s.MaxOpenConnections
			// Pressed from the first wait on a full pool until the pool has
			// a free connection again.
			pressed = full && (pressed || s.WaitCount > waits)
			waits = s.WaitCount
			if pressed && ls.giveBack(now, 0) {
				ls.stats.returned.Add(1)
			}
			if now.Sub(swept) > idle/4 {
				swept = now
				for ls.giveBack(now, idle) {
				}
			}
		}
	}
}

// watchEvery is how often watch looks at the pool.
const watchEvery = 5 * time.Millisecond

// giveBack gives the connection of the idle lane used longest ago back to
// the pool, if that lane has been idle for longer than idleFor, and reports
// whether it gave one back.
func (ls *lanes) giveBack(now time.Time, idleFor time.Duration) bool {
	var oldest chan held
	var conn *sqlx.Conn
	var used time.Time
	for i := range ls.lane {
		l := ls.lane[i].tok
		select {
		case h := <-l:
			if h.conn != nil && now.Sub(h.used) > idleFor && (conn == nil || h.used.Before(used)) {
				oldest, conn, used = l, h.conn, h.used
			}
			l <- h
		default: // busy
		}
	}
	if oldest == nil {
		return false
	}
	select {
	case h := <-oldest:
		if h.conn != conn || !h.used.Equal(used) { // used meanwhile: leave it
			oldest <- h
			return false
		}
		ls.idle.Add(-1)
		oldest <- held{}
		conn.Close()
		return true
	default:
		return false
	}
}

// close gives every lane's connection back, waiting for transactions that
// hold a lane to end.
func (ls *lanes) close() {
	if ls.closed.Swap(true) {
		return
	}
	close(ls.stop)
	for i := range ls.lane {
		l := ls.lane[i].tok
		if h := <-l; h.conn != nil {
			ls.idle.Add(-1)
			h.conn.Close()
		}
		l <- held{}
	}
}

// LaneStats reports what the tenant lanes did since the pool opened.
func (p *Pool) LaneStats() LaneStats {
	ls := p.lanes
	if ls == nil {
		return LaneStats{}
	}
	return LaneStats{Lanes: len(ls.lane), Served: ls.stats.served.Load(), Fallbacks: ls.stats.fallbacks.Load(),
		Waited: ls.stats.waited.Load(), Returned: ls.stats.returned.Load(), Idle: int(ls.idle.Load())}
}
