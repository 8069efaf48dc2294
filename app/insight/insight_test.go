package insight_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestAssess(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	healthy := func() *tenant.TenantSummary {
		return &tenant.TenantSummary{
			Tenant:   tenant.Tenant{ID: "acme", Status: tenant.StatusActive, SchemaVersion: 2},
			MaxUsers: 100, MaxGroups: 10, ActiveTokens: 1,
		}
	}
	for _, tt := range []struct {
		name    string
		change  func(*tenant.TenantSummary)
		stats   *insight.TenantStats
		level   health.Level
		reasons []string
	}{
		{"OK", func(*tenant.TenantSummary) {}, &insight.TenantStats{Users: 10, Known: true}, health.OK, nil},
		{"Suspended", func(t *tenant.TenantSummary) { t.Status = tenant.StatusSuspended }, nil, health.Info, []string{"suspended"}},
		{"TrialExpired", func(t *tenant.TenantSummary) { t.TrialEndsAt = at(-time.Hour) }, nil, health.Fail, []string{"trial expired"}},
		{"TrialEnding", func(t *tenant.TenantSummary) { t.TrialEndsAt = at(48 * time.Hour) }, nil, health.Warn, []string{"trial ends in under 3 days"}},
		{"TrialFar", func(t *tenant.TenantSummary) { t.TrialEndsAt = at(10 * 24 * time.Hour) }, nil, health.OK, nil},
		{"NoToken", func(t *tenant.TenantSummary) { t.ActiveTokens = 0 }, nil, health.Fail, []string{"no usable SCIM token"}},
		{"NoTokenWhileSuspended", func(t *tenant.TenantSummary) { t.ActiveTokens, t.Status = 0, tenant.StatusSuspended }, nil, health.Info, []string{"suspended"}},
		{"SchemaBehind", func(t *tenant.TenantSummary) { t.SchemaVersion = 1 }, nil, health.Warn, []string{"schema behind: run bulkhead migrate"}},
		{"NearUserQuota", func(*tenant.TenantSummary) {}, &insight.TenantStats{Users: 90, Groups: 1, Known: true}, health.Warn, []string{"users at 90% of quota or more"}},
		{"QuotaUnknown", func(*tenant.TenantSummary) {}, &insight.TenantStats{Users: 100}, health.OK, nil},
		{"WorstWins", func(t *tenant.TenantSummary) { t.SchemaVersion, t.ActiveTokens = 1, 0 }, &insight.TenantStats{Groups: 10, Known: true}, health.Fail,
			[]string{"no usable SCIM token", "schema behind: run bulkhead migrate", "groups at 90% of quota or more"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := healthy()
			tt.change(ts)
			h := insight.Assess(ts, tt.stats, 2, now)
			if h.Level != tt.level || !slices.Equal(h.Reasons, tt.reasons) {
				t.Errorf("got %s %q, want %s %q", h.Level, h.Reasons, tt.level, tt.reasons)
			}
		})
	}
}
