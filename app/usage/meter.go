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
	m := &Meter{db: db, opts: opts, cur: newBatch()}
	m.lastFlush.Store(time.Now().UnixNano())
	return m
}

// Record counts one request. Requests without a tenant are ignored. It
// takes a lock for a few map operations and never touches the database.
func (m *Meter) Record(e Event) {
	if e.TenantID == "" {
		return
	}
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
	c := b.counts[k]
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
	if e.Status >= 200 && e.Status < 300 && IsWrite(e.Operation) {
		if lw, ok := b.lastWrite[e.TenantID]; !ok || e.At.After(lw.at) {
			b.lastWrite[e.TenantID] = lastWrite{at: e.At, idp: e.IdP}
		}
	}
	if e.Failure != nil {
		f := *e.Failure
		f.TenantID, f.At, f.Status, f.IdP = e.TenantID, e.At, e.Status, e.IdP
		b.failures[e.TenantID] = keepLast(append(b.failures[e.TenantID], f), MaxFailures)
	}
}

func keepLast(fs []Failure, n int) []Failure {
	if len(fs) <= n {
		return fs
	}
	return append(fs[:0:0], fs[len(fs)-n:]...)
}

// merge adds older's counts to b, as if they had been recorded first.
func (b *batch) merge(older *batch) {
	for k, oc := range older.counts {
		c := b.counts[k]
		if c == nil {
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
	for t, olw := range older.lastWrite {
		if lw, ok := b.lastWrite[t]; !ok || olw.at.After(lw.at) {
			b.lastWrite[t] = olw
		}
	}
	for t, ofs := range older.failures {
		b.failures[t] = keepLast(append(ofs, b.failures[t]...), MaxFailures)
	}
	b.events += older.events
}

// Flush writes what was counted since the last flush in one transaction.
// When the write fails, the counts go back into memory for the next flush
// and the database error is returned.
func (m *Meter) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	b := m.cur
	m.cur = newBatch()
	m.mu.Unlock()

	if b.events > 0 {
		if err := writeBatch(ctx, m.db, b); err != nil {
			m.mu.Lock()
			m.cur.merge(b)
			m.mu.Unlock()
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
// it after the HTTP server has finished its in-flight requests. It returns
// an error naming how many requests went unsaved when ctx ends first.
func (m *Meter) Close(ctx context.Context) error {
	for {
		err := m.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("usage not saved at shutdown: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stats describe the Meter's state, for /metrics.
type Stats struct {
	LastFlush   time.Time // last successful flush (or creation)
	Pending     int64     // requests counted but not yet flushed
	FlushErrors int64     // failed flushes since the start
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
	}
}
