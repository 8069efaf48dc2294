package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Defaults of Options.
const (
	DefaultRetryFor = 24 * time.Hour
	DefaultTimeout  = 10 * time.Second
	DefaultWorkers  = 4
	DefaultBackoff  = time.Second
	MaxBackoff      = time.Hour
	DefaultPoll     = time.Minute
	// MaxExcerpt is how much of a response body an attempt keeps.
	MaxExcerpt = 1024
	// keepFor is how long deliveries and attempts are listed.
	keepFor = 30 * 24 * time.Hour
)

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	// RetryFor is how long an event is retried after its first failed
	// attempt before it is given up and its endpoint paused
	// (BULKHEAD_WEBHOOK_RETRY_FOR).
	RetryFor time.Duration
	// Timeout bounds one request, response body included.
	Timeout time.Duration
	// Workers is how many deliveries this instance makes at once, each to
	// a different endpoint and tenant. Each holds a connection of the pool
	// while its request runs (at most Timeout). One endpoint and tenant's
	// events go one at a time, so more workers help only across tenants:
	// at about 300 writes/s over 3 tenants, 2 fell seconds behind where 4
	// kept up (docs/benchmarks.md).
	Workers int
	// Backoff is the delay before the first retry; each next one doubles,
	// up to MaxBackoff, less a random part of up to half (jitter), so that
	// endpoints that failed together are not retried together.
	Backoff time.Duration
	// Poll is how often every endpoint is looked at even without a signal,
	// in case one was missed.
	Poll time.Duration
	Log  *slog.Logger
}

// Dispatcher delivers events to the endpoints. Run one in every instance:
// a worker takes an endpoint's cursor for a tenant with FOR UPDATE SKIP
// LOCKED and holds it while it sends, so no two workers anywhere send to
// one endpoint for one tenant at once, and the tenant's next event waits
// for the one in flight.
type Dispatcher struct {
	db     *store.DB
	policy Policy
	opts   Options
	client *http.Client
	wake   chan struct{}
	seen   int64 // the last feed position feedGrew saw; the listener's alone
}

// NewDispatcher returns a dispatcher over db whose requests obey policy.
func NewDispatcher(db *store.DB, policy Policy, opts Options) *Dispatcher {
	if opts.RetryFor <= 0 {
		opts.RetryFor = DefaultRetryFor
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, ControlContext: policy.dialControl}
	transport := &http.Transport{
		Proxy:               nil, // a proxy would dial for us, past dialControl
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: opts.Timeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// A redirect is a failed delivery: following it would send the
		// event where the endpoint's owner did not register.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Dispatcher{db: db, policy: policy, opts: opts, client: client, wake: make(chan struct{}, opts.Workers)}
}

// Run delivers until ctx ends, with its workers, the listener that wakes
// them when the feed grows or an endpoint is added, resumed or replayed,
// and a look at every endpoint each Options.Poll; it returns when the
// workers and the listener have stopped. The feed's growth is told by the
// events relay (events.Service.Run), which must run in the same process.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1 + d.opts.Workers)
	go func() { defer wg.Done(); d.listen(ctx) }()
	for range d.opts.Workers {
		go func() { defer wg.Done(); d.work(ctx) }()
	}
	d.sweep(ctx)
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			d.sweep(ctx)
		}
	}
}

// wakeWorkers tells idle workers to look for due deliveries.
func (d *Dispatcher) wakeWorkers() {
	for range d.opts.Workers {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Wake makes the deliveries of the tenants due now (every tenant's when
// none is named), creating the cursors of endpoints that have none for
// them yet, and wakes the workers. The listener calls it when the feed
// grows with the tenants' events.
func (d *Dispatcher) Wake(ctx context.Context, tenantIDs ...string) error {
	all := len(tenantIDs) == 0
	// Every tenant: those with events in the feed, and those without yet.
	const ensure = `INSERT INTO control.webhook_cursors (endpoint_id, tenant_id)
		SELECT e.id, t.id FROM control.webhook_endpoints e
		JOIN (SELECT unnest($2::text[]) WHERE NOT $1
			UNION SELECT tenant_id FROM control.event_relay WHERE $1
			UNION SELECT id FROM control.tenants WHERE $1 AND status <> 'deleting') AS t (id)
		ON e.tenant_id IS NULL OR e.tenant_id = t.id
		ON CONFLICT (endpoint_id, tenant_id) DO NOTHING`
	if _, err := d.db.ExecContext(ctx, ensure, all, pq.Array(tenantIDs)); err != nil {
		return fmt.Errorf("add webhook cursors: %w", err)
	}
	// Idle cursors only, which no worker holds, so this never waits for a
	// delivery; a worker that found nothing looks once more after it lets
	// go of its cursor (DeliverOne), for events that arrived meanwhile.
	const due = `UPDATE control.webhook_cursors SET due_at = now() WHERE due_at IS NULL AND ($1 OR tenant_id = ANY($2))`
	if _, err := d.db.ExecContext(ctx, due, all, pq.Array(tenantIDs)); err != nil {
		return fmt.Errorf("wake webhook cursors: %w", err)
	}
	d.wakeWorkers()
	return nil
}

// feedGrew wakes the deliveries of the tenants whose events entered the
// feed since it last looked. Feed positions are given in the order the
// relay's copies commit, so reading past the last position seen misses
// none.
func (d *Dispatcher) feedGrew(ctx context.Context) error {
	var rows []struct {
		TenantID string `db:"tenant_id"`
		Last     int64  `db:"last"`
	}
	const q = `SELECT tenant_id, max(position) AS last FROM control.events WHERE position > $1 GROUP BY tenant_id`
	if err := d.db.SelectContext(ctx, &rows, q, d.seen); err != nil {
		return fmt.Errorf("read the feed: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	last := d.seen
	for i, r := range rows {
		ids[i], last = r.TenantID, max(last, r.Last)
	}
	if err := d.Wake(ctx, ids...); err != nil {
		return err
	}
	d.seen = last
	return nil
}

// sweep looks at every endpoint for every tenant, in case a signal was
// missed, and prunes.
func (d *Dispatcher) sweep(ctx context.Context) {
	if err := d.Wake(ctx); err != nil && ctx.Err() == nil {
		d.opts.Log.Warn("webhooks", "error", err.Error())
	}
	d.prune(ctx)
}

// prune forgets deliveries and attempts past keepFor, and the cursors of
// deleted tenants whose events the feed no longer holds.
func (d *Dispatcher) prune(ctx context.Context) {
	for _, q := range []string{
		`DELETE FROM control.webhook_attempts WHERE at < $1`,
		`DELETE FROM control.webhook_deliveries WHERE last_at < $1`,
		// A deleted tenant's cursors, once the feed holds none of its
		// events (retention pruned them), not as soon as its last one is
		// delivered: a signal naming the tenant may still come (Wake,
		// from a late feedGrew), and would make a cursor anew at 0,
		// sending the tenant's events again from its first. The $1 keeps
		// one parameter for every statement here.
		`DELETE FROM control.webhook_cursors c WHERE $1::timestamptz IS NOT NULL AND due_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM control.tenants t WHERE t.id = c.tenant_id)
			AND NOT EXISTS (SELECT 1 FROM control.events e WHERE e.tenant_id = c.tenant_id)`,
	} {
		if _, err := d.db.ExecContext(ctx, q, time.Now().Add(-keepFor)); err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhooks: prune", "error", err.Error())
		}
	}
}

// work delivers due events until ctx ends, and waits for a signal or the
// next retry when there are none.
func (d *Dispatcher) work(ctx context.Context) {
	for ctx.Err() == nil {
		claimed, err := d.DeliverOne(ctx)
		if err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhook delivery", "error", err.Error())
		}
		if claimed && err == nil {
			continue
		}
		wait := d.opts.Poll
		if next, err := d.nextDue(ctx); err == nil && next != nil {
			wait = min(wait, max(time.Until(*next), 10*time.Millisecond))
		}
		if err != nil {
			wait = time.Second // the database failed: try again soon, not at once
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// nextDue returns when the next delivery falls due (nil: none).
func (d *Dispatcher) nextDue(ctx context.Context) (*time.Time, error) {
	var next *time.Time
	const q = `SELECT min(c.due_at) FROM control.webhook_cursors c JOIN control.webhook_endpoints e ON e.id = c.endpoint_id
		WHERE c.due_at IS NOT NULL AND e.paused_at IS NULL`
	if err := d.db.GetContext(ctx, &next, q); err != nil {
		return nil, err
	}
	return next, nil
}

// cursor is a claimed endpoint cursor with what sending needs.
type cursor struct {
	EndpointID   string     `db:"endpoint_id"`
	TenantID     string     `db:"tenant_id"`
	Delivered    int64      `db:"delivered"`
	Attempts     int        `db:"attempts"`
	FailingSince *time.Time `db:"failing_since"`
	URL          string     `db:"url"`
	Secret       string     `db:"secret"`
	Since        time.Time  `db:"created_at"`
}

// DeliverOne takes one due cursor, if any, and sends its tenant's next
// event to its endpoint, recording the attempt and, once delivered or given
// up, moving the cursor on, in one transaction that holds the cursor's row
// lock throughout. A crash before it commits leaves the cursor where it
// was: the event is sent again, with the same id. It reports whether it
// found a due cursor.
func (d *Dispatcher) DeliverOne(ctx context.Context) (claimed bool, err error) {
	var idle *cursor
	err = d.db.Transact(ctx, func(tx *sqlx.Tx) error {
		var c cursor
		const q = `SELECT c.endpoint_id, c.tenant_id, c.delivered, c.attempts, c.failing_since, e.url, e.secret, e.created_at
			FROM control.webhook_cursors c
			JOIN control.webhook_endpoints e ON e.id = c.endpoint_id
			WHERE c.due_at <= now() AND e.paused_at IS NULL
			ORDER BY c.due_at LIMIT 1
			FOR UPDATE OF c SKIP LOCKED`
		err := tx.GetContext(ctx, &c, q)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("claim a webhook cursor: %w", err)
		}
		claimed = true
		ev, err := d.nextEvent(ctx, c)
		if err != nil {
			return err
		}
		if ev == nil {
			idle = &c
			_, err := tx.ExecContext(ctx, `UPDATE control.webhook_cursors SET due_at = NULL WHERE endpoint_id = $1 AND tenant_id = $2`, c.EndpointID, c.TenantID)
			return err
		}
		return d.deliver(ctx, tx, c, ev)
	})
	if err == nil && idle != nil {
		// A write that committed after nextEvent looked, and whose Wake
		// found the cursor still held, is seen now.
		ev, err := d.nextEvent(ctx, *idle)
		if err == nil && ev != nil {
			_, err = d.db.ExecContext(ctx, `UPDATE control.webhook_cursors SET due_at = now() WHERE endpoint_id = $1 AND tenant_id = $2 AND due_at IS NULL`, idle.EndpointID, idle.TenantID)
		}
		if err != nil {
			return claimed, fmt.Errorf("look again for events: %w", err)
		}
	}
	return claimed, err
}

// nextEvent returns the tenant's first event in the feed after the
// cursor's, among those written since the endpoint was added, or nil.
func (d *Dispatcher) nextEvent(ctx context.Context, c cursor) (*events.Event, error) {
	return events.NextEvent(ctx, d.db, c.TenantID, c.Delivered, c.Since)
}

// Sign returns the Bulkhead-Signature header of body sent at t: the
// HMAC-SHA256, keyed with the secret, of the Unix seconds, a dot and the
// body.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// result is what one request gave.
type result struct {
	status   int
	took     time.Duration
	err      string
	response string
}

// post sends one event to url.
func (d *Dispatcher) post(ctx context.Context, url, secret string, ev *events.Event) result {
	body, err := json.Marshal(ev)
	if err != nil {
		return result{err: "encode event: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: err.Error()}
	}
	// The parsed scheme, which is lower case whatever the URL's spelling
	// ("HTTP://…" registers as plain http too).
	req = req.WithContext(context.WithValue(ctx, plainKey{}, req.URL.Scheme == "http"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Bulkhead-Webhooks/1")
	req.Header.Set("Bulkhead-Event-Id", ev.ID)
	req.Header.Set("Bulkhead-Signature", Sign(secret, time.Now(), body))
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return result{took: time.Since(start), err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxExcerpt))
	r := result{status: resp.StatusCode, took: time.Since(start), response: excerpt(b)}
	if err != nil {
		r.err = "read response: " + err.Error()
	}
	return r
}

// excerpt makes a response's start storable as text: valid UTF-8, no NUL.
func excerpt(b []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}

// deliver sends ev to the claimed cursor's endpoint and records the
// outcome in tx: delivered (2xx), retried later with backoff, or given up
// after RetryFor, which pauses the endpoint.
func (d *Dispatcher) deliver(ctx context.Context, tx *sqlx.Tx, c cursor, ev *events.Event) error {
	start := time.Now()
	r := d.post(ctx, c.URL, c.Secret, ev)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the event is sent again later
	}
	ok := r.err == "" && r.status >= 200 && r.status < 300
	if !ok && r.err == "" {
		r.err = fmt.Sprintf("status %d", r.status)
	}
	const qa = `INSERT INTO control.webhook_attempts (endpoint_id, tenant_id, sequence, event_id, at, status, duration_ms, error, response)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	if _, err := tx.ExecContext(ctx, qa, c.EndpointID, c.TenantID, ev.Sequence, ev.ID, start, r.status, r.took.Milliseconds(), r.err, r.response); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	state := "delivered"
	failingSince := start
	if c.FailingSince != nil && c.Attempts > 0 {
		failingSince = *c.FailingSince
	}
	switch {
	case ok:
		const q = `UPDATE control.webhook_cursors SET delivered = $3, attempts = 0, failing_since = NULL, due_at = now()
			WHERE endpoint_id = $1 AND tenant_id = $2`
		if _, err := tx.ExecContext(ctx, q, c.EndpointID, c.TenantID, ev.Sequence); err != nil {
			return fmt.Errorf("advance webhook cursor: %w", err)
		}
	case time.Since(failingSince) >= d.opts.RetryFor:
		state = "failed"
		const q = `UPDATE control.webhook_cursors SET delivered = $3, attempts = 0, failing_since = NULL, due_at = now()
			WHERE endpoint_id = $1 AND tenant_id = $2`
		if _, err := tx.ExecContext(ctx, q, c.EndpointID, c.TenantID, ev.Sequence); err != nil {
			return fmt.Errorf("give up webhook delivery: %w", err)
		}
		reason := fmt.Sprintf("gave up on event %d of tenant %s after %d attempts over %s: %s",
			ev.Sequence, c.TenantID, c.Attempts+1, d.opts.RetryFor, r.err)
		const qp = `UPDATE control.webhook_endpoints SET paused_at = now(), paused_reason = $2 WHERE id = $1`
		if _, err := tx.ExecContext(ctx, qp, c.EndpointID, reason); err != nil {
			return fmt.Errorf("pause webhook: %w", err)
		}
		d.opts.Log.Warn("webhook paused", "endpoint", c.EndpointID, "tenant", c.TenantID, "sequence", ev.Sequence, "error", r.err)
	default:
		state = "retrying"
		const q = `UPDATE control.webhook_cursors SET attempts = attempts + 1, failing_since = $3, due_at = $4
			WHERE endpoint_id = $1 AND tenant_id = $2`
		if _, err := tx.ExecContext(ctx, q, c.EndpointID, c.TenantID, failingSince, time.Now().Add(d.backoff(c.Attempts+1))); err != nil {
			return fmt.Errorf("schedule webhook retry: %w", err)
		}
	}
	const qd = `INSERT INTO control.webhook_deliveries (endpoint_id, tenant_id, sequence, event_id, type, state, attempts, status, duration_ms, first_at, last_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $9)
		ON CONFLICT (endpoint_id, tenant_id, sequence) DO UPDATE SET state = EXCLUDED.state,
			attempts = control.webhook_deliveries.attempts + 1, status = EXCLUDED.status,
			duration_ms = EXCLUDED.duration_ms, last_at = EXCLUDED.last_at`
	if _, err := tx.ExecContext(ctx, qd, c.EndpointID, c.TenantID, ev.Sequence, ev.ID, ev.Type, state, r.status, r.took.Milliseconds(), start); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// backoff is the delay before retry n (1, 2, …): Backoff doubled n-1
// times, at most MaxBackoff, less up to half of it at random.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.opts.Backoff
	for i := 1; i < n && b < MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, MaxBackoff)
	return b - time.Duration(rand.Int64N(int64(b/2)+1))
}
