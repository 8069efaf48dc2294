package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// Options tune a Recorder. Zero values take the defaults.
type Options struct {
	// FlushEvery is how often Run writes what was recorded; default
	// DefaultFlushEvery. A live feed shows an entry this long, plus its
	// own poll, after the request.
	FlushEvery time.Duration
	// MaxPending bounds the entries kept in memory between flushes, and
	// separately the failed authentications, which anyone can send; past
	// it new ones are dropped and counted. Default DefaultMaxPending.
	MaxPending int
	Log        *slog.Logger // default: discard
}

// Defaults of Options.
const (
	DefaultFlushEvery = 500 * time.Millisecond
	DefaultMaxPending = 5000
)

// activityLock is the advisory lock every flush holds while it inserts, so
// that flushes of all instances commit one after another and ids become
// visible in the order they were given: a feed reading by id cursor never
// skips a row that committed late.
const activityLock = 0x61637469 // "acti"

// Recorder keeps entries in memory and flushes them into control.activity.
// Its methods are safe for concurrent use.
type Recorder struct {
	db   *store.DB
	opts Options

	mu      sync.Mutex
	entries []Entry
	auth    []AuthFailure

	flushMu sync.Mutex
	dropped atomic.Int64
}

// NewRecorder returns a Recorder that flushes into db. Call Run to flush
// periodically and Close to flush what is left.
func NewRecorder(db *store.DB, opts Options) *Recorder {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{db: db, opts: opts}
}

// Lengths, in bytes, that each recorded string is cut to.
const (
	maxNameLen   = 128
	maxMethodLen = 16
	maxTextLen   = 2 << 10
)

func (e *Entry) sanitize() {
	e.TenantID = usage.Clean(e.TenantID, maxNameLen)
	e.Kind = usage.Clean(e.Kind, maxNameLen)
	e.RequestID = usage.Clean(e.RequestID, maxNameLen)
	e.Method = usage.Clean(e.Method, maxMethodLen)
	e.Path = usage.Clean(e.Path, maxTextLen)
	e.Credential = usage.Clean(e.Credential, maxNameLen)
	e.Reason = usage.Clean(e.Reason, maxNameLen)
	e.ScimType = usage.Clean(e.ScimType, maxNameLen)
	e.Detail = usage.Clean(e.Detail, maxTextLen)
	e.IdP = usage.Clean(e.IdP, maxNameLen)
	if e.Status < 0 || e.Status > 999 {
		e.Status = 0
	}
}

// Record keeps e, an entry of a known tenant, for the next flush. It never
// touches the database.
func (r *Recorder) Record(e Entry) {
	if e.TenantID == "" {
		return
	}
	e.sanitize()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.opts.MaxPending {
		r.dropped.Add(1)
		return
	}
	r.entries = append(r.entries, e)
}

// RecordAuthFailure keeps a, a failed authentication, for the next flush,
// which records it for the tenant its URL names, or else the tenant its
// token belongs to, when that tenant exists. It never touches the
// database, so that the 401 takes the same time whatever the tenant.
func (r *Recorder) RecordAuthFailure(a AuthFailure) {
	if a.TenantID == "" && len(a.TokenHash) == 0 && a.ClaimedTenant == "" {
		return // nothing names a tenant
	}
	a.sanitize()
	a.ClaimedTenant = usage.Clean(a.ClaimedTenant, maxNameLen)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.auth) >= r.opts.MaxPending {
		r.dropped.Add(1)
		return
	}
	r.auth = append(r.auth, a)
}

// Dropped returns how many entries were given up since the start: past
// the memory bound, or refused by the database.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Flush writes what was recorded since the last flush in one transaction
// and trims each tenant's feed to MaxEntries of each kind. When the
// database refuses a value, the batch is dropped and counted; when it
// cannot be reached, the batch goes back into memory, within its bounds,
// for the next flush, and the error is returned.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	es, as := r.entries, r.auth
	r.entries, r.auth = nil, nil
	r.mu.Unlock()
	if len(es) == 0 && len(as) == 0 {
		return nil
	}
	err := r.db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, activityLock); err != nil {
			return fmt.Errorf("lock the activity feed: %w", err)
		}
		tenants, err := insertEntries(ctx, tx, es)
		if err != nil {
			return err
		}
		more, err := insertAuthFailures(ctx, tx, as)
		if err != nil {
			return err
		}
		return trim(ctx, tx, append(tenants, more...))
	})
	if err == nil {
		return nil
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && slices.Contains([]string{"22", "23", "54"}, string(pqErr.Code.Class())) {
		r.dropped.Add(int64(len(es) + len(as)))
		r.opts.Log.Warn("activity entries refused by the database were dropped", "entries", len(es)+len(as), "error", err.Error())
		return nil
	}
	r.mu.Lock()
	r.entries, r.auth = requeue(es, r.entries, r.opts.MaxPending, &r.dropped), requeue(as, r.auth, r.opts.MaxPending, &r.dropped)
	r.mu.Unlock()
	return fmt.Errorf("flush %d activity entries: %w", len(es)+len(as), err)
}

// requeue puts older back before newer, keeping the newest max.
func requeue[T any](older, newer []T, max int, dropped *atomic.Int64) []T {
	all := append(older, newer...)
	if n := len(all) - max; n > 0 {
		dropped.Add(int64(n))
		all = all[n:]
	}
	return all
}

// insertEntries appends es, oldest first, for the tenants that exist, and
// returns the tenants it wrote for.
func insertEntries(ctx context.Context, tx *sqlx.Tx, es []Entry) ([]string, error) {
	if len(es) == 0 {
		return nil, nil
	}
	cols := make([][]string, 12)
	for _, e := range es {
		for i, v := range []string{e.TenantID, e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.RequestID, e.Method, e.Path,
			strconv.Itoa(e.Status), e.Credential, e.Reason, e.ScimType, e.Detail, e.IdP} {
			cols[i] = append(cols[i], v)
		}
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = pq.Array(c)
	}
	const q = `
		INSERT INTO control.activity (tenant_id, at, kind, request_id, method, path, status, credential, reason, scim_type, detail, idp)
		SELECT x.* FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::smallint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) AS x(t)
		WHERE EXISTS (SELECT 1 FROM control.tenants WHERE id = x.t)
		ORDER BY 2
		RETURNING tenant_id`
	var tenants []string
	if err := tx.SelectContext(ctx, &tenants, q, args...); err != nil {
		return nil, fmt.Errorf("write activity: %w", err)
	}
	return tenants, nil
}

// insertAuthFailures appends the failed authentications of tenants that
// exist, oldest first, with the reason the database can tell: whether the
// token sent is unknown, revoked, expired or another tenant's, whether a
// JWT's issuer is registered. A token known to the database is shown by
// its stored prefix. It returns the tenants it wrote for.
func insertAuthFailures(ctx context.Context, tx *sqlx.Tx, as []AuthFailure) ([]string, error) {
	if len(as) == 0 {
		return nil, nil
	}
	cols := make([][]string, 11)
	hashes := make([][]byte, 0, len(as))
	jwts := make([]bool, 0, len(as))
	for _, a := range as {
		for i, v := range []string{a.TenantID, a.At.UTC().Format(time.RFC3339Nano), a.RequestID, a.Method, a.Path,
			strconv.Itoa(a.Status), a.Credential, a.Reason, a.IdP, a.ClaimedTenant, issuerOf(a)} {
			cols[i] = append(cols[i], v)
		}
		hashes = append(hashes, append([]byte{}, a.TokenHash...))
		jwts = append(jwts, a.JWT)
	}
	args := make([]any, 0, len(cols)+2)
	for _, c := range cols {
		args = append(args, pq.Array(c))
	}
	args = append(args, pq.Array(hashes), pq.Array(jwts))
	const q = `
		INSERT INTO control.activity (tenant_id, at, kind, request_id, method, path, status, credential, reason, idp)
		SELECT t.id, x.at, 'auth', x.rid, x.m, x.p, x.s,
			CASE WHEN k.id IS NOT NULL THEN k.prefix ELSE x.c END,
			CASE
				WHEN x.jwt AND x.claimed <> '' AND x.claimed <> t.id THEN 'wrong_tenant'
				WHEN x.jwt AND x.iss <> '' AND NOT EXISTS (
					SELECT 1 FROM control.jwt_issuers i WHERE i.tenant_id = t.id AND i.issuer = x.iss) THEN 'unknown_issuer'
				WHEN x.jwt OR length(x.h) = 0 THEN x.r
				WHEN k.id IS NULL THEN 'unknown_token'
				WHEN k.tenant_id <> t.id THEN 'wrong_tenant'
				WHEN k.revoked_at IS NOT NULL THEN 'revoked_token'
				WHEN k.expires_at <= x.at THEN 'expired_token'
				ELSE 'rejected'
			END,
			x.idp
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::smallint[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[], $13::bool[])
			AS x(t, at, rid, m, p, s, c, r, idp, claimed, iss, h, jwt)
		LEFT JOIN control.tokens k ON length(x.h) > 0 AND k.hash = x.h
		JOIN control.tenants t ON t.id = COALESCE(NULLIF(x.t, ''), k.tenant_id, NULLIF(x.claimed, ''))
		ORDER BY x.at
		RETURNING tenant_id`
	var tenants []string
	if err := tx.SelectContext(ctx, &tenants, q, args...); err != nil {
		return nil, fmt.Errorf("write failed authentications: %w", err)
	}
	return tenants, nil
}

// issuerOf returns the issuer of a JWT's failure, from its Credential.
func issuerOf(a AuthFailure) string {
	if !a.JWT || len(a.Credential) <= len(IssuerPrefix) {
		return ""
	}
	return a.Credential[len(IssuerPrefix):]
}

// IssuerPrefix starts the Credential of a JWT that did not work, before its
// issuer.
const IssuerPrefix = "iss "

// trim keeps the newest MaxEntries entries of each kind of each tenant
// named.
func trim(ctx context.Context, tx *sqlx.Tx, tenants []string) error {
	if len(tenants) == 0 {
		return nil
	}
	slices.Sort(tenants)
	tenants = slices.Compact(tenants)
	const q = `
		DELETE FROM control.activity a USING (
			SELECT id FROM (
				SELECT id, row_number() OVER (PARTITION BY tenant_id, kind ORDER BY id DESC) AS n
				FROM control.activity WHERE tenant_id = ANY($1)
			) ranked WHERE n > $2
		) old
		WHERE a.id = old.id`
	if _, err := tx.ExecContext(ctx, q, pq.Array(tenants), MaxEntries); err != nil {
		return fmt.Errorf("trim activity: %w", err)
	}
	return nil
}

// Run flushes every FlushEvery until ctx ends. A failed flush is logged
// and retried at the next tick. Run does not flush on its way out: call
// Close once the HTTP server has drained.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := r.Flush(fctx); err != nil && ctx.Err() == nil {
				r.opts.Log.Error("activity flush failed; entries kept for the next try", "error", err.Error())
			}
			cancel()
		}
	}
}

// Close flushes what is left, once; when it cannot, what is left is
// dropped and the error says how much.
func (r *Recorder) Close(ctx context.Context) error {
	if err := r.Flush(ctx); err != nil {
		r.mu.Lock()
		n := len(r.entries) + len(r.auth)
		r.entries, r.auth = nil, nil
		r.mu.Unlock()
		r.dropped.Add(int64(n))
		return fmt.Errorf("activity not saved at shutdown: %d entries: %w", n, err)
	}
	return nil
}
