package health

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// PoolStats returns the connection pool's statistics: connections open, in
// use and idle, and how often and how long requests waited for one.
func PoolStats(db *store.DB) sql.DBStats { return db.Stats() }

// Behind is a tenant whose schema is not at the current version.
type Behind struct {
	TenantID string `json:"tenant_id"`
	Version  int    `json:"version"`
	Current  int    `json:"current"`
}

// TenantsBehind returns the tenants whose schema is behind svc's
// migrations, oldest version first; bulkhead migrate brings them up. It
// returns EUNAVAILABLE when the control plane cannot be read.
func TenantsBehind(ctx context.Context, svc *tenant.Service) ([]Behind, error) {
	current := store.LatestVersion(svc.Migrations)
	var bs []Behind
	const q = `SELECT id, schema_version FROM control.tenants WHERE schema_version < $1 ORDER BY schema_version, id`
	rows, err := svc.DB.QueryContext(ctx, q, current)
	if err != nil {
		return nil, fmt.Errorf("find tenants behind on migrations: %w", store.Unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		b := Behind{Current: current}
		if err := rows.Scan(&b.TenantID, &b.Version); err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

// Latency is a tenant's SCIM latency over the last hour.
type Latency struct {
	TenantID string        `json:"tenant_id"`
	P50      time.Duration `json:"p50"`
	P95      time.Duration `json:"p95"`
	Requests int64         `json:"requests"`
}

// SlowestTenants returns at most n tenants with the highest p95 latency in
// the current and previous clock hour, slowest first, among those with at
// least a few requests (a single slow request says little). It returns
// EUNAVAILABLE when the control plane cannot be read.
func SlowestTenants(ctx context.Context, db *store.DB, n int) ([]Latency, error) {
	lastStart, _ := windows(time.Now())
	ts, err := usage.Summarize(ctx, db, usage.RollupFilter{Since: lastStart})
	if err != nil {
		return nil, err
	}
	var ls []Latency
	for _, t := range ts {
		if t.Requests < 5 {
			continue
		}
		ls = append(ls, Latency{TenantID: t.TenantID, P50: t.Latency.Percentile(50), P95: t.Latency.Percentile(95), Requests: t.Requests})
	}
	slices.SortFunc(ls, func(a, b Latency) int {
		return cmp.Or(cmp.Compare(b.P95, a.P95), cmp.Compare(b.Requests, a.Requests))
	})
	return ls[:min(n, len(ls))], nil
}

// Thresholds of the sign-in check: more failed sign-ins than
// SignInBurst within SignInBurstWindow, across every account, looks like
// someone guessing passwords.
const (
	SignInBurst       = 20
	SignInBurstWindow = 15 * time.Minute
)

// SignIns is the state of console sign-ins: the failures within
// SignInBurstWindow, from the audit trail (which keeps them after a later
// success), and the accounts the throttle locks now.
type SignIns struct {
	Failures int            `json:"failures"`
	Locked   []*staff.Entry `json:"locked"`
}

// Burst reports whether the failures are more than SignInBurst.
func (s *SignIns) Burst() bool { return s.Failures > SignInBurst }

// FindSignIns returns the state of console sign-ins. It returns
// EUNAVAILABLE when the control plane cannot be read.
func FindSignIns(ctx context.Context, db *store.DB) (*SignIns, error) {
	var s SignIns
	const q = `SELECT count(*) FROM control.audit_events WHERE at > now() - $1::interval AND action = $2`
	window := fmt.Sprintf("%d seconds", int(SignInBurstWindow.Seconds()))
	if err := db.GetContext(ctx, &s.Failures, q, window, staff.ActionSignInFailed); err != nil {
		return nil, fmt.Errorf("count failed sign-ins: %w", store.Unavailable(err))
	}
	es, err := staff.FindStaff(ctx, db)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, e := range es {
		if e.Locked(now) {
			s.Locked = append(s.Locked, e)
		}
	}
	return &s, nil
}
