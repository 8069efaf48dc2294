package insight

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Rollups keeps control.tenant_rollups, the per-tenant numbers the tenant
// list sorts by (tenant.TenantFilter.Sort), close enough to the live ones
// without visiting every tenant schema on each request: the requests of the
// last 24 hours and the last activity of all tenants in one statement over
// the usage roll-ups, and the users and groups of at most Batch tenants per
// refresh, those never counted or written to since their last count first.
// The list shows each row's live numbers; the stored ones only order it.
type Rollups struct {
	Basic *Basic
	Batch int           // tenants recounted per refresh; default 500
	Every time.Duration // between refreshes; default one minute
	Log   *slog.Logger
}

// NewRollups returns Rollups over the tenants' database.
func NewRollups(tenants *tenant.Service, log *slog.Logger) *Rollups {
	return &Rollups{Basic: NewBasic(tenants), Log: log}
}

// recountAfter is how old a count may get before it is taken again even
// without a recorded write, for writes made while usage metering was off.
const recountAfter = 24 * time.Hour

// Refresh brings the stored numbers up to date once. It returns
// EUNAVAILABLE when the control plane cannot be reached.
func (r *Rollups) Refresh(ctx context.Context) error {
	db := r.Basic.DB
	const sums = `
		INSERT INTO control.tenant_rollups AS x (tenant_id, requests_24h, last_activity)
		SELECT t.id, COALESCE(h.requests, 0), GREATEST(w.at, h.last_hour)
		FROM control.tenants t
		LEFT JOIN (
			SELECT tenant_id, sum(requests)::bigint AS requests, max(hour) AS last_hour
			FROM control.usage_hourly WHERE hour > now() - interval '24 hours'
			GROUP BY tenant_id
		) h ON h.tenant_id = t.id
		LEFT JOIN control.usage_last_write w ON w.tenant_id = t.id
		ON CONFLICT (tenant_id) DO UPDATE SET requests_24h = EXCLUDED.requests_24h, last_activity = EXCLUDED.last_activity
		WHERE (x.requests_24h, x.last_activity) IS DISTINCT FROM (EXCLUDED.requests_24h, EXCLUDED.last_activity)`
	if _, err := db.ExecContext(ctx, sums); err != nil {
		return fmt.Errorf("sum tenant requests: %w", store.Unavailable(err))
	}
	const stale = `
		SELECT t.id, t.isolation FROM control.tenants t
		LEFT JOIN control.tenant_rollups x ON x.tenant_id = t.id
		LEFT JOIN control.usage_last_write w ON w.tenant_id = t.id
		WHERE x.counted_at IS NULL OR w.at > x.counted_at OR x.counted_at < now() - $2::interval
		ORDER BY x.counted_at NULLS FIRST, t.id LIMIT $1`
	var ts []*tenant.Tenant
	if err := db.SelectContext(ctx, &ts, stale, cmp.Or(r.Batch, 500), recountAfter.String()); err != nil {
		return fmt.Errorf("find tenants to count: %w", store.Unavailable(err))
	}
	if len(ts) == 0 {
		return nil
	}
	out, err := r.Basic.countAll(ctx, ts, r.Basic.countResources)
	if err != nil {
		return err
	}
	return r.Basic.saveCounts(ctx, out)
}

// Run refreshes every Every until ctx ends, logging failures.
func (r *Rollups) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(r.Every, time.Minute))
	defer t.Stop()
	for {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.Warn("tenant roll-ups", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// saveCounts stores the users and groups just counted, for the sorts of the
// tenant list. Tenants whose counts could not be read are left as they were.
func (b *Basic) saveCounts(ctx context.Context, out map[string]TenantStats) error {
	var ids []string
	var users, groups []int64
	for id, st := range out {
		if st.Known {
			ids = append(ids, id)
			users = append(users, int64(st.Users))
			groups = append(groups, int64(st.Groups))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	const q = `
		INSERT INTO control.tenant_rollups AS x (tenant_id, users, groups, counted_at)
		SELECT * , now() FROM unnest($1::text[], $2::bigint[], $3::bigint[])
		ON CONFLICT (tenant_id) DO UPDATE SET users = EXCLUDED.users, groups = EXCLUDED.groups, counted_at = now()`
	if _, err := b.DB.ExecContext(ctx, q, pq.Array(ids), pq.Array(users), pq.Array(groups)); err != nil {
		return fmt.Errorf("save counts of %d tenants: %w", len(ids), store.Unavailable(err))
	}
	return nil
}
