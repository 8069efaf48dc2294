package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// isError is the SQL condition for a request that counts as an error in
// error rates: any 4xx or 5xx except 404, 409 and 412, which identity
// providers meet in normal syncs (a lookup of a deleted id, a retried
// create, a stale ETag).
const isError = `status >= 400 AND status NOT IN (404, 409, 412)`

// Rollup is one row of control.usage_hourly.
type Rollup struct {
	TenantID   string        `db:"tenant_id" json:"tenant_id"`
	Hour       time.Time     `db:"hour" json:"hour"`
	Resource   string        `db:"resource" json:"resource"`
	Operation  string        `db:"operation" json:"operation"`
	Status     int           `db:"status" json:"status"`
	Refusal    string        `db:"refusal" json:"refusal,omitempty"`
	Requests   int64         `db:"requests" json:"requests"`
	BytesIn    int64         `db:"bytes_in" json:"bytes_in"`
	BytesOut   int64         `db:"bytes_out" json:"bytes_out"`
	DurationUS int64         `db:"duration_us" json:"duration_us"` // total latency, in microseconds
	DBUS       int64         `db:"db_us" json:"db_us"`             // total time in tenant transactions, in microseconds
	Latency    pq.Int64Array `db:"latency" json:"latency"`
}

// RollupFilter selects roll-ups: of one tenant (all when empty), with hours
// in [Since, Until) (Until zero means now).
type RollupFilter struct {
	TenantID     string
	Since, Until time.Time
}

func (f RollupFilter) until() time.Time {
	if f.Until.IsZero() {
		return time.Now().Add(time.Hour)
	}
	return f.Until
}

// FindRollups returns the hourly roll-ups matching f, by tenant and oldest
// first. It returns EUNAVAILABLE when the database cannot be reached.
func FindRollups(ctx context.Context, q sqlx.QueryerContext, f RollupFilter) ([]Rollup, error) {
	const query = `
		SELECT tenant_id, hour, resource, operation, status, refusal, requests,
			bytes_in, bytes_out, duration_us, db_us, latency
		FROM control.usage_hourly
		WHERE ($1 = '' OR tenant_id = $1) AND hour >= $2 AND hour < $3
		ORDER BY tenant_id, hour, resource, operation, status, refusal`
	var rs []Rollup
	if err := sqlx.SelectContext(ctx, q, &rs, query, f.TenantID, f.Since, f.until()); err != nil {
		return nil, fmt.Errorf("find usage roll-ups: %w", store.Unavailable(err))
	}
	return rs, nil
}

// Totals sum a tenant's roll-ups over a window.
type Totals struct {
	TenantID string           `json:"tenant_id"`
	Requests int64            `json:"requests"`
	Errors   int64            `json:"errors"` // see ErrorRate
	BytesIn  int64            `json:"bytes_in"`
	BytesOut int64            `json:"bytes_out"`
	Duration time.Duration    `json:"duration"`
	DBTime   time.Duration    `json:"db_time"`
	Latency  Histogram        `json:"latency"`
	Refusals map[string]int64 `json:"refusals,omitempty"`
}

// ErrorRate is the share of requests that failed, not counting 404, 409
// and 412, which identity providers meet in normal syncs. It is 0 without
// requests.
func (t Totals) ErrorRate() float64 {
	if t.Requests == 0 {
		return 0
	}
	return float64(t.Errors) / float64(t.Requests)
}

// Summarize returns the totals of each tenant with traffic matching f
// (every tenant when f.TenantID is empty), ordered by tenant id. It returns
// EUNAVAILABLE when the database cannot be reached.
func Summarize(ctx context.Context, q sqlx.QueryerContext, f RollupFilter) ([]*Totals, error) {
	const sums = `
		SELECT tenant_id, sum(requests), COALESCE(sum(requests) FILTER (WHERE ` + isError + `), 0),
			sum(bytes_in), sum(bytes_out), sum(duration_us), sum(db_us)
		FROM control.usage_hourly
		WHERE ($1 = '' OR tenant_id = $1) AND hour >= $2 AND hour < $3
		GROUP BY tenant_id ORDER BY tenant_id`
	rows, err := q.QueryContext(ctx, sums, f.TenantID, f.Since, f.until())
	if err != nil {
		return nil, fmt.Errorf("summarize usage: %w", store.Unavailable(err))
	}
	var out []*Totals
	byTenant := map[string]*Totals{}
	for rows.Next() {
		t := &Totals{Latency: make(Histogram, numBuckets), Refusals: map[string]int64{}}
		var durUS, dbUS int64
		if err := rows.Scan(&t.TenantID, &t.Requests, &t.Errors, &t.BytesIn, &t.BytesOut, &durUS, &dbUS); err != nil {
			rows.Close()
			return nil, err
		}
		t.Duration, t.DBTime = time.Duration(durUS)*time.Microsecond, time.Duration(dbUS)*time.Microsecond
		out = append(out, t)
		byTenant[t.TenantID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}

	const buckets = `
		SELECT tenant_id, i, sum(v)
		FROM control.usage_hourly, unnest(latency) WITH ORDINALITY AS z(v, i)
		WHERE ($1 = '' OR tenant_id = $1) AND hour >= $2 AND hour < $3
		GROUP BY tenant_id, i`
	if err := eachRow(ctx, q, buckets, []any{f.TenantID, f.Since, f.until()}, func(s rowScanner) error {
		var tenant string
		var i, n int64
		if err := s.Scan(&tenant, &i, &n); err != nil {
			return err
		}
		if t := byTenant[tenant]; t != nil && i >= 1 && int(i) <= len(t.Latency) {
			t.Latency[i-1] = n
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("summarize latency: %w", err)
	}

	const refusals = `
		SELECT tenant_id, refusal, sum(requests) FROM control.usage_hourly
		WHERE ($1 = '' OR tenant_id = $1) AND hour >= $2 AND hour < $3 AND refusal <> ''
		GROUP BY tenant_id, refusal`
	if err := eachRow(ctx, q, refusals, []any{f.TenantID, f.Since, f.until()}, func(s rowScanner) error {
		var tenant, reason string
		var n int64
		if err := s.Scan(&tenant, &reason, &n); err != nil {
			return err
		}
		if t := byTenant[tenant]; t != nil {
			t.Refusals[reason] = n
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("summarize refusals: %w", err)
	}
	return out, nil
}

type rowScanner interface{ Scan(...any) error }

func eachRow(ctx context.Context, q sqlx.QueryerContext, query string, args []any, fn func(rowScanner) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SummarizeTenant returns one tenant's totals over [since, until); a tenant
// without traffic gets zero totals. It returns the errors of Summarize.
func SummarizeTenant(ctx context.Context, q sqlx.QueryerContext, tenantID string, since, until time.Time) (*Totals, error) {
	ts, err := Summarize(ctx, q, RollupFilter{TenantID: tenantID, Since: since, Until: until})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return &Totals{TenantID: tenantID, Latency: make(Histogram, numBuckets), Refusals: map[string]int64{}}, nil
	}
	return ts[0], nil
}

// FindFailures returns the tenant's latest failed requests, newest first, at
// most limit (at most MaxFailures are kept). It returns EUNAVAILABLE when
// the database cannot be reached.
func FindFailures(ctx context.Context, q sqlx.QueryerContext, tenantID string, limit int) ([]Failure, error) {
	const query = `
		SELECT id, tenant_id, at, request_id, method, path, status, scim_type, detail, idp, body
		FROM control.failed_requests WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2`
	var fs []Failure
	if err := sqlx.SelectContext(ctx, q, &fs, query, tenantID, limit); err != nil {
		return nil, fmt.Errorf("find failed requests of %q: %w", tenantID, store.Unavailable(err))
	}
	return fs, nil
}

// LastWrite is a tenant's latest successful SCIM write.
type LastWrite struct {
	At  time.Time `db:"at" json:"at"`
	IdP string    `db:"idp" json:"idp"` // IdP*
}

// FindLastWrite returns the tenant's latest successful SCIM write, or
// ENOTFOUND when none was ever recorded.
func FindLastWrite(ctx context.Context, q sqlx.QueryerContext, tenantID string) (*LastWrite, error) {
	var lw LastWrite
	err := sqlx.GetContext(ctx, q, &lw, `SELECT at, idp FROM control.usage_last_write WHERE tenant_id = $1`, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "tenant %q has made no SCIM write yet", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("find last write of %q: %w", tenantID, store.Unavailable(err))
	}
	return &lw, nil
}
