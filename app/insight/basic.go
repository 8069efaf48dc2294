package insight

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// Basic computes insight from what exists without usage metering: counts
// and storage read from each tenant's schema, health from the control plane.
// Request numbers are left unrecorded (nil, empty), never made up.
type Basic struct {
	DB      *store.DB
	Tenants *tenant.Service
	// Workers bounds how many tenant schemas are counted at once; default 4.
	Workers int
}

// NewBasic returns a Basic over the tenants' database.
func NewBasic(tenants *tenant.Service) *Basic { return &Basic{DB: tenants.DB, Tenants: tenants} }

// TenantStats counts users and groups and sums the storage of each tenant,
// several tenants at once. A tenant whose schema cannot be read is left with
// Known false rather than failing the whole list. The counts are also kept
// in control.tenant_rollups for the list's sorts; failing to keep them
// fails nothing, as Rollups takes them again.
func (b *Basic) TenantStats(ctx context.Context, ts []*tenant.Tenant) (map[string]TenantStats, error) {
	out, err := b.countAll(ctx, ts, b.count)
	if err == nil {
		_ = b.saveCounts(ctx, out)
	}
	return out, err
}

// countAll runs count over the tenants, Workers at a time.
func (b *Basic) countAll(ctx context.Context, ts []*tenant.Tenant, count func(context.Context, *tenant.Tenant) (TenantStats, error)) (map[string]TenantStats, error) {
	out := make(map[string]TenantStats, len(ts))
	var mu sync.Mutex
	sem := make(chan struct{}, cmp.Or(b.Workers, 4))
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, err := count(ctx, t)
			st.Known = err == nil
			mu.Lock()
			out[t.ID] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

// count reads the tenant's counts and storage as the usage report does
// (usage.ResourceCounts, usage.StorageBytes), so the console and the
// report never disagree.
func (b *Basic) count(ctx context.Context, t *tenant.Tenant) (TenantStats, error) {
	st, err := b.countResources(ctx, t)
	if err != nil {
		return st, err
	}
	if st.StorageBytes, err = usage.StorageBytes(ctx, b.DB, t.ID); err != nil {
		return st, fmt.Errorf("count tenant %s: %w", t.ID, err)
	}
	return st, nil
}

// countResources reads the tenant's users and groups only, what the
// roll-ups keep. Storage is what costs: to size them, the database opens
// each of the tenant's tables, indexes and TOAST tables, some 20 ms in a
// backend new to the tenant, which the roll-ups' 500 tenants a minute
// would pay for nothing.
func (b *Basic) countResources(ctx context.Context, t *tenant.Tenant) (TenantStats, error) {
	var st TenantStats
	c, err := usage.ResourceCounts(ctx, b.DB, t)
	if err != nil {
		return st, fmt.Errorf("count tenant %s: %w", t.ID, err)
	}
	st.Users, st.Groups = int(c.Users), int(c.Groups)
	return st, nil
}

// TenantUsage returns the tenant's counts and storage today. Without usage
// metering it has no request series: Recorded is false.
func (b *Basic) TenantUsage(ctx context.Context, t *tenant.Tenant, days int) (*Usage, error) {
	st, err := b.count(ctx, t)
	if err != nil {
		return nil, err
	}
	st.Known = true
	today := time.Now().UTC().Truncate(24 * time.Hour)
	return &Usage{
		Days:   days,
		Stats:  st,
		Users:  Series{Name: "users", Points: []Point{{At: today, Value: float64(st.Users)}}},
		Groups: Series{Name: "groups", Points: []Point{{At: today, Value: float64(st.Groups)}}},
	}, nil
}

// Health runs the checks that need no metering and lists the tenants to look
// at first, worst first.
func (b *Basic) Health(ctx context.Context) (*HealthReport, error) {
	r := &HealthReport{At: time.Now()}
	timed := func(name string, fn func() (level health.Level, detail string)) {
		start := time.Now()
		level, detail := fn()
		r.Checks = append(r.Checks, Check{Name: name, Level: level, Detail: detail, Took: time.Since(start)})
	}
	timed("Database", func() (health.Level, string) {
		if err := b.DB.PingContext(ctx); err != nil {
			return health.Fail, "the database does not answer"
		}
		return health.OK, "answers"
	})
	timed("Control schema", func() (health.Level, string) {
		v, err := b.DB.ControlVersion(ctx)
		want := store.LatestVersion(store.ControlMigrations)
		switch {
		case err != nil:
			return health.Fail, "cannot read the control schema version"
		case v != want:
			return health.Fail, fmt.Sprintf("at version %d, this binary expects %d: run bulkhead migrate", v, want)
		}
		return health.OK, fmt.Sprintf("at version %d", v)
	})
	latest := store.LatestVersion(b.Tenants.Migrations)
	timed("Tenant schemas", func() (health.Level, string) {
		vs, err := b.Tenants.MigrationStatus(ctx)
		if err != nil {
			return health.Fail, "cannot read tenant schema versions"
		}
		var behind, all int
		for _, v := range vs {
			all += v.Tenants
			if v.Version < latest {
				behind += v.Tenants
			}
		}
		if behind > 0 {
			return health.Warn, fmt.Sprintf("%d of %d tenants behind version %d: run bulkhead migrate", behind, all, latest)
		}
		return health.OK, fmt.Sprintf("all %d at version %d", all, latest)
	})
	timed("Connection pool", func() (health.Level, string) {
		// Tenant lanes hold connections between transactions, which the
		// pool counts as in use; an idle lane gives its own back on demand.
		s, lanes := b.DB.Stats(), b.DB.LaneStats()
		working := max(s.InUse-lanes.Idle, 0)
		detail := fmt.Sprintf("%d of %d connections in use", working, s.MaxOpenConnections)
		if lanes.Idle > 0 {
			detail += fmt.Sprintf(", %d more kept by idle tenant lanes", lanes.Idle)
		}
		detail += fmt.Sprintf(", %d waits so far", s.WaitCount)
		if s.MaxOpenConnections > 0 && working*10 >= s.MaxOpenConnections*8 {
			return health.Warn, detail
		}
		return health.OK, detail
	})
	timed("Failed sign-ins", func() (health.Level, string) {
		si, err := health.FindSignIns(ctx, b.DB)
		if err != nil {
			return health.Fail, "cannot read failed sign-ins"
		}
		return signInCheck(si, r.At)
	})
	timed("Webhooks", func() (health.Level, string) { return health.Webhooks(ctx, b.DB) })
	r.Checks = append(r.Checks, Check{Name: "SCIM traffic", Level: health.Info,
		Detail: "not recorded yet: request rates and error ratios appear once usage metering is on"})

	page, err := b.Tenants.SearchTenants(ctx, tenant.TenantFilter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, t := range page.Tenants {
		h := Assess(t, nil, latest, r.At)
		if h.Level != health.OK {
			r.Attention = append(r.Attention, Attention{TenantID: t.ID, TenantName: t.Name, Health: h})
		}
	}
	slices.SortStableFunc(r.Attention, func(a, b Attention) int { return b.Health.Level.Rank() - a.Health.Level.Rank() })
	return r, nil
}

// Assess gives a tenant its health badge from its control rows and, when
// known, its stats: failing when SCIM cannot work (expired trial, no usable
// token, schema behind), warn when it soon may not (trial ending, quota
// nearly used), info when suspended on purpose.
func Assess(t *tenant.TenantSummary, st *TenantStats, latestVersion int, now time.Time) TenantHealth {
	h := TenantHealth{Level: health.OK}
	raise := func(level health.Level, reason string) {
		if level.Rank() > h.Level.Rank() {
			h.Level = level
		}
		h.Reasons = append(h.Reasons, reason)
	}
	if t.Status == tenant.StatusSuspended {
		raise(health.Info, "suspended")
	}
	if t.TrialEndsAt != nil {
		switch left := t.TrialEndsAt.Sub(now); {
		case left <= 0:
			raise(health.Fail, "trial expired")
		case left < 3*24*time.Hour:
			raise(health.Warn, "trial ends in under 3 days")
		}
	}
	if t.ActiveTokens == 0 && t.Status == tenant.StatusActive {
		raise(health.Fail, "no usable SCIM token")
	}
	if t.SchemaVersion < latestVersion {
		raise(health.Warn, "schema behind: run bulkhead migrate")
	}
	if st != nil && st.Known {
		if t.MaxUsers > 0 && st.Users*10 >= t.MaxUsers*9 {
			raise(health.Warn, "users at 90% of quota or more")
		}
		if t.MaxGroups > 0 && st.Groups*10 >= t.MaxGroups*9 {
			raise(health.Warn, "groups at 90% of quota or more")
		}
	}
	return h
}

// signInCheck warns on accounts the sign-in throttle locks and on bursts of
// failures across accounts, which suggest someone guessing passwords.
func signInCheck(si *health.SignIns, now time.Time) (level health.Level, detail string) {
	minutes := int(health.SignInBurstWindow.Minutes())
	detail = fmt.Sprintf("%d in the last %d minutes", si.Failures, minutes)
	level = health.OK
	if si.Burst() {
		level = health.Warn
		detail += fmt.Sprintf(" (more than %d): someone may be guessing passwords", health.SignInBurst)
	}
	if len(si.Locked) > 0 {
		level = health.Warn
		var names []string
		for _, e := range si.Locked {
			names = append(names, fmt.Sprintf("%s (for %s more)", e.Email, roundMinutes(e.LockedUntil.Sub(now))))
		}
		accounts := "accounts"
		if len(names) == 1 {
			accounts = "account"
		}
		detail += fmt.Sprintf("; %d %s locked after failed sign-ins: %s; an administrator can unlock them on the Staff page", len(names), accounts, strings.Join(names, ", "))
	}
	return level, detail
}

// roundMinutes says a wait in whole minutes, at least one.
func roundMinutes(d time.Duration) string {
	if m := int((d + time.Minute - 1) / time.Minute); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 minute"
}
