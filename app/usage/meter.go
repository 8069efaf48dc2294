package usage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Options tune a Meter. Zero values take the defaults.
type Options struct {
	FlushEvery time.Duration // how often Run flushes; default 5s
	Retention  time.Duration // how long hourly roll-ups are kept; default 90 days
	Log        *slog.Logger  // default: discard

	// MaxPendingRollups bounds the roll-up rows (tenant, hour, resource,
	// operation, status, refusal) kept in memory while flushes fail;
	// requests past it are dropped and counted. Default
	// DefaultMaxPendingRollups.
	MaxPendingRollups int
	// MaxPendingFailures bounds the failed requests kept in memory for the
	// inspector across all tenants (each tenant keeps at most MaxFailures);
	// past it a tenant's newest replaces its oldest, and a tenant with none
	// pending loses the new one. Default DefaultMaxPendingFailures.
	MaxPendingFailures int
}

// Meter counts SCIM requests per tenant in memory and flushes them in
// batches. Its methods are safe for concurrent use.
type Meter struct {
	db   *store.DB
	opts Options

	mu  sync.Mutex
	cur *batch

	flushMu     sync.Mutex // one flush at a time
	lastPrune   time.Time  // guarded by flushMu
	lastFlush   atomic.Int64
	flushErrors atomic.Int64

	// What was given up: requests whose counts, and failed requests that
	// the inspector, will never see (refused by the database, past a
	// memory bound, or unsaved at shutdown).
	droppedRequests atomic.Int64
	droppedFailures atomic.Int64
}

// key identifies one roll-up row.
type key struct {
	tenant    string
	hour      int64 // Unix seconds of the start of the clock hour
	resource  string
	operation string
	status    int
	refusal   string
}

// counts are the sums kept per key.
type counts struct {
	requests, bytesIn, bytesOut, durationUS, dbUS int64
	latency                                       [numBuckets]int64
}

// lastWrite is a tenant's latest successful write.
type lastWrite struct {
	at  time.Time
	idp string
}

// batch is what was counted since the last flush.
type batch struct {
	counts    map[key]*counts
	lastWrite map[string]lastWrite
	failures  map[string][]Failure // per tenant, oldest first, at most MaxFailures
	nFailures int                  // across tenants
	events    int64
}

func newBatch() *batch {
	return &batch{counts: map[key]*counts{}, lastWrite: map[string]lastWrite{}, failures: map[string][]Failure{}}
}

// NewMeter returns a Meter that flushes into db. Call Run to flush
// periodically and Close to flush what is left.
func NewMeter(db *store.DB, opts Options) *Meter {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 5 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 90 * 24 * time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxPendingRollups <= 0 {
		opts.MaxPendingRollups = DefaultMaxPendingRollups
	}
	if opts.MaxPendingFailures <= 0 {
		opts.MaxPendingFailures = DefaultMaxPendingFailures
	}
	m := &Meter{db: db, opts: opts, cur: newBatch()}
	m.lastFlush.Store(time.Now().UnixNano())
	return m
}

// Record counts one request. Requests without a tenant are ignored. It
// takes a lock for a few map operations and never touches the database.
// Its strings are made safe to store and cut to bounded lengths first
// (bounds.go), so that nothing a client sends can make a flush fail.
func (m *Meter) Record(e Event) {
	if e.TenantID == "" {
		return
	}
	e.sanitize()
	k := key{
		tenant:    e.TenantID,
		hour:      e.At.Unix() - e.At.Unix()%3600,
		resource:  e.Resource,
		operation: e.Operation,
		status:    e.Status,
		refusal:   e.Refusal,
	}
	bucket := bucketOf(e.Duration)
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.cur
	if c := b.counts[k]; c != nil || len(b.counts) < m.opts.MaxPendingRollups {
		if c == nil {
			c = &counts{}
			b.counts[k] = c
		}
		c.requests++
		c.bytesIn += e.BytesIn
		c.bytesOut += e.BytesOut
		c.durationUS += e.Duration.Microseconds()
		c.dbUS += e.DBTime.Microseconds()
		c.latency[bucket]++
		b.events++
	} else {
		m.droppedRequests.Add(1)
	}
	if e.Status >= 200 && e.Status < 300 && IsWrite(e.Operation) {
		if lw, ok := b.lastWrite[e.TenantID]; !ok || e.At.After(lw.at) {
			b.lastWrite[e.TenantID] = lastWrite{at: e.At, idp: e.IdP}
		}
	}
	if e.Failure != nil {
		f := *e.Failure
		f.TenantID, f.At, f.Status, f.IdP = e.TenantID, e.At, e.Status, e.IdP
		if !b.addFailure(f, m.opts.MaxPendingFailures) {
			m.droppedFailures.Add(1)
		}
	}
}

// addFailure keeps f, the newest failure of its tenant, and each tenant's
// newest MaxFailures. With limit failures pending across tenants, f
// replaces its tenant's oldest, or is not kept when its tenant has none;
// it reports false when the limit cost a failure.
func (b *batch) addFailure(f Failure, limit int) bool {
	fs := b.failures[f.TenantID]
	lost := false
	switch {
	case len(fs) >= MaxFailures: // the inspector keeps no more: not a loss
		fs = fs[1:]
	case b.nFailures < limit:
		b.nFailures++
	case len(fs) == 0:
		return false
	default:
		fs, lost = fs[1:], true
	}
	b.failures[f.TenantID] = append(fs, f)
	return !lost
}

// merge adds older's counts to b, as if they had been recorded first,
// within b's bounds: it returns how many requests and failures did not
// fit. Each tenant keeps its newest MaxFailures failures, which is not a
// loss.
func (b *batch) merge(older *batch, maxRollups, maxFailures int) (droppedRequests, droppedFailures int64) {
	for k, oc := range older.counts {
		c := b.counts[k]
		if c == nil {
			if len(b.counts) >= maxRollups {
				droppedRequests += oc.requests
				continue
			}
			b.counts[k] = oc
			continue
		}
		c.requests += oc.requests
		c.bytesIn += oc.bytesIn
		c.bytesOut += oc.bytesOut
		c.durationUS += oc.durationUS
		c.dbUS += oc.dbUS
		for i := range c.latency {
			c.latency[i] += oc.latency[i]
		}
	}
	b.events += older.events - droppedRequests
	for t, olw := range older.lastWrite {
		if lw, ok := b.lastWrite[t]; !ok || olw.at.After(lw.at) {
			b.lastWrite[t] = olw
		}
	}
	for t, ofs := range older.failures {
		cur := b.failures[t]
		n := min(len(ofs), MaxFailures-len(cur))
		if room := maxFailures - b.nFailures; n > room {
			droppedFailures += int64(n - max(room, 0))
			n = max(room, 0)
		}
		if n == 0 {
			continue
		}
		b.failures[t] = append(ofs[len(ofs)-n:len(ofs):len(ofs)], cur...)
		b.nFailures += n
	}
	return droppedRequests, droppedFailures
}

// Flush writes what was counted since the last flush in one transaction.
// Rows the database refuses (a data error such as an invalid value) are
// dropped and counted, and the rest is written without them. When the
// write fails otherwise (the database is unreachable, say), the counts go
// back into memory, within its bounds, for the next flush and the database
// error is returned.
func (m *Meter) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	b := m.cur
	m.cur = newBatch()
	m.mu.Unlock()

	if b.events > 0 || len(b.failures) > 0 || len(b.lastWrite) > 0 {
		refused, err := writeBatch(ctx, m.db, b)
		if refused.requests+refused.failures+refused.lastWrites > 0 {
			m.droppedRequests.Add(refused.requests)
			m.droppedFailures.Add(refused.failures)
			m.opts.Log.Warn("usage rows refused by the database were dropped",
				"requests", refused.requests, "failed_requests", refused.failures, "last_writes", refused.lastWrites,
				"error", refused.first.Error())
		}
		if err != nil {
			m.mu.Lock()
			dr, df := m.cur.merge(b, m.opts.MaxPendingRollups, m.opts.MaxPendingFailures)
			m.mu.Unlock()
			m.droppedRequests.Add(dr)
			m.droppedFailures.Add(df)
			m.flushErrors.Add(1)
			return fmt.Errorf("flush usage of %d requests: %w", b.events, err)
		}
	}
	m.lastFlush.Store(time.Now().UnixNano())
	if time.Since(m.lastPrune) > time.Hour {
		if err := Prune(ctx, m.db, m.opts.Retention); err != nil {
			m.opts.Log.Warn("usage retention", "error", err.Error())
		} else {
			m.lastPrune = time.Now()
		}
	}
	return nil
}

// Run flushes every FlushEvery until ctx ends. A failed flush is logged and
// retried at the next tick with the counts it kept. Run does not flush on
// its way out: call Close once the HTTP server has drained.
func (m *Meter) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, m.opts.FlushEvery+10*time.Second)
			if err := m.Flush(fctx); err != nil && ctx.Err() == nil {
				m.opts.Log.Error("usage flush failed; counts kept for the next try", "error", err.Error())
			}
			cancel()
		}
	}
}

// Close flushes what is left, retrying until it succeeds or ctx ends. Call
// it after the HTTP server has finished its in-flight requests, with a
// short deadline: when ctx ends first, what is left is counted as dropped
// and the error names how much went unsaved.
func (m *Meter) Close(ctx context.Context) error {
	for {
		err := m.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			b := m.cur
			m.cur = newBatch()
			m.mu.Unlock()
			m.droppedRequests.Add(b.events)
			m.droppedFailures.Add(int64(b.nFailures))
			return fmt.Errorf("usage not saved at shutdown: %d requests of %d tenants and %d failed requests for the inspector: %w",
				b.events, b.tenants(), b.nFailures, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tenants returns how many tenants b has counts of.
func (b *batch) tenants() int {
	seen := map[string]bool{}
	for k := range b.counts {
		seen[k.tenant] = true
	}
	return len(seen)
}

// Stats describe the Meter's state, for /metrics.
type Stats struct {
	LastFlush   time.Time // last successful flush (or creation)
	Pending     int64     // requests counted but not yet flushed
	FlushErrors int64     // failed flushes since the start
	// DroppedRequests and DroppedFailures count, since the start, requests
	// whose counts and failed requests whose inspector rows were given up:
	// refused by the database, past a bound of memory, or unsaved when
	// Close ran out of time.
	DroppedRequests int64
	DroppedFailures int64
}

// Stats returns the Meter's current state.
func (m *Meter) Stats() Stats {
	m.mu.Lock()
	pending := m.cur.events
	m.mu.Unlock()
	return Stats{
		LastFlush:   time.Unix(0, m.lastFlush.Load()),
		Pending:     pending,
		FlushErrors: m.flushErrors.Load(),

		DroppedRequests: m.droppedRequests.Load(),
		DroppedFailures: m.droppedFailures.Load(),
	}
}
