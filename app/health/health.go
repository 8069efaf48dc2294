// Package health answers "is this tenant healthy?" and "is the system
// healthy?" for the console and support staff, in plain language.
//
// A tenant's health is a list of checks, each ok, warn or fail with a
// reason a person can act on: its schema is present and migrated, a
// read/write probe works (in a transaction that is rolled back), its quotas,
// its SCIM error rate and latency against its own baseline, its tokens, its
// last successful write and the identity provider that made it, and whether
// it is a noisy neighbour. Reports are computed on demand and cached
// briefly, so that a console refreshing often does not load the database.
package health

import (
	"context"
	"sync"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// Level is how healthy something is: a check, a tenant's report, a tenant's
// badge or the system. It is the one vocabulary of health: this package's
// checks, insight's system checks and badges, the console's badges and the
// admin API's JSON ("ok", "info", "warn", "fail") all use it.
type Level string

// Levels, from best to worst. Info is for what is not measured, or not
// working on purpose (a suspended tenant).
const (
	OK   Level = "ok"
	Info Level = "info"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Rank orders levels from best (0) to worst, for sorting and for taking the
// worst of several.
func (l Level) Rank() int {
	switch l {
	case Info:
		return 1
	case Warn:
		return 2
	case Fail:
		return 3
	}
	return 0
}

// Worse returns the worse of two levels, a when they rank the same.
func Worse(a, b Level) Level {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Check is the outcome of one health check.
type Check struct {
	Name   string        `json:"name"`
	Status Level         `json:"status"`
	Reason string        `json:"reason"` // plain language, for support staff
	Took   time.Duration `json:"took"`
}

// Report is a tenant's health: its checks and the worst of their statuses.
type Report struct {
	TenantID string    `json:"tenant_id"`
	Status   Level     `json:"status"`
	Checks   []Check   `json:"checks"`
	At       time.Time `json:"at"`
}

// Checker computes tenants' health and caches reports for TTL.
type Checker struct {
	DB      *store.DB
	Tenants *tenant.Service // its Migrations say which version is current
	TTL     time.Duration

	mu    sync.Mutex
	cache map[string]*Report
	fleet *fleet
}

// NewChecker returns a Checker over the tenants' database, with reports
// cached for 15 seconds.
func NewChecker(tenants *tenant.Service) *Checker {
	return &Checker{DB: tenants.DB, Tenants: tenants, TTL: 15 * time.Second}
}

// TenantHealth returns the tenant's health report, from the cache when it
// is younger than TTL. It returns ENOTFOUND for an unknown tenant and
// EUNAVAILABLE when the control plane cannot be read; a check that fails
// is part of the report, not an error.
func (h *Checker) TenantHealth(ctx context.Context, tenantID string) (*Report, error) {
	h.mu.Lock()
	if r := h.cache[tenantID]; r != nil && time.Since(r.At) < h.TTL {
		h.mu.Unlock()
		return r, nil
	}
	h.mu.Unlock()

	t, err := h.Tenants.FindTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	r := &Report{TenantID: t.ID, Status: OK, At: time.Now()}
	schemaOK := false
	for _, c := range []struct {
		name string
		run  func(context.Context, *tenant.Tenant, bool) (Level, string)
	}{
		{"schema", func(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
			st, reason := h.checkSchema(ctx, t)
			schemaOK = st == OK
			return st, reason
		}},
		{"migrations", h.checkMigrations},
		{"probe", h.checkProbe},
		{"quota", h.checkQuota},
		{"error_rate", h.checkErrorRate},
		{"latency", h.checkLatency},
		{"tokens", h.checkTokens},
		{"last_write", h.checkLastWrite},
		{"noisy_neighbour", h.checkNoisy},
	} {
		start := time.Now()
		st, reason := c.run(ctx, t, schemaOK)
		r.Checks = append(r.Checks, Check{Name: c.name, Status: st, Reason: reason, Took: time.Since(start)})
		r.Status = Worse(r.Status, st)
	}
	h.mu.Lock()
	if h.cache == nil {
		h.cache = map[string]*Report{}
	}
	h.cache[tenantID] = r
	h.mu.Unlock()
	return r, nil
}

// Windows of the usage checks: the last hour is the current and the
// previous clock hour (roll-ups are hourly); the baseline is the week
// before it.
func windows(now time.Time) (lastHour, baselineStart time.Time) {
	lastHour = now.Truncate(time.Hour).Add(-time.Hour)
	return lastHour, lastHour.Add(-7 * 24 * time.Hour)
}

// fleet is what the noisy-neighbour check compares a tenant with.
type fleet struct {
	at                 time.Time
	medianRequests     float64
	medianDBTime       time.Duration
	byTenant           map[string]*usage.Totals
	activeTenantsCount int
}
