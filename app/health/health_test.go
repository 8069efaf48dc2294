package health_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is a database of its own, so that fleet-wide checks see only the
// test's tenants.
type fixture struct {
	db      *store.DB
	tenants *tenant.Service
	checker *health.Checker
	meter   *usage.Meter
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.NewDB(t)
	tenants := tenant.NewService(db)
	h := health.NewChecker(tenants)
	h.TTL = 0 // every call recomputes, unless a test says otherwise
	return &fixture{db: db, tenants: tenants, checker: h, meter: usage.NewMeter(db, usage.Options{})}
}

func (f *fixture) tenant(t *testing.T, id string, change ...func(*tenant.NewTenant)) *tenant.Tenant {
	t.Helper()
	nt := tenant.NewTenant{ID: id, Plan: tenant.PlanStartup}
	for _, c := range change {
		c(&nt)
	}
	tn, _, err := f.tenants.CreateTenant(context.Background(), nt, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// check returns the named check of the tenant's report.
func (f *fixture) check(t *testing.T, tenantID, name string) health.Check {
	t.Helper()
	r, err := f.checker.TenantHealth(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r)
	return health.Check{}
}

func expect(t *testing.T, c health.Check, status health.Level, reason string) {
	t.Helper()
	if c.Status != status || !strings.Contains(c.Reason, reason) {
		t.Errorf("%s: %s %q; want %s containing %q", c.Name, c.Status, c.Reason, status, reason)
	}
}

// traffic records n requests of the tenant at a time, failed ones with
// status 500, each taking took.
func (f *fixture) traffic(t *testing.T, tenantID string, at time.Time, n, failed int, took time.Duration) {
	t.Helper()
	for i := 0; i < n; i++ {
		status := 200
		if i < failed {
			status = 500
		}
		f.meter.Record(usage.Event{TenantID: tenantID, At: at, Resource: usage.ResourceUsers, Operation: usage.OpGet,
			Status: status, Duration: took, DBTime: took / 2})
	}
	if err := f.meter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestHealthyTenant(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "acme")
	r, err := f.checker.TenantHealth(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != health.OK {
		t.Errorf("status %s: %+v", r.Status, r.Checks)
	}
	for _, c := range r.Checks {
		if c.Status != health.OK || c.Reason == "" {
			t.Errorf("%s: %s %q", c.Name, c.Status, c.Reason)
		}
	}
	if _, err := f.checker.TenantHealth(context.Background(), "nobody"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestSchemaDropped(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "gone")
	if _, err := f.db.ExecContext(context.Background(), `DROP SCHEMA tenant_gone CASCADE`); err != nil {
		t.Fatal(err)
	}
	expect(t, f.check(t, "gone", "schema"), health.Fail, "schema tenant_gone does not exist")
	expect(t, f.check(t, "gone", "probe"), health.Fail, "schema is missing")
	expect(t, f.check(t, "gone", "quota"), health.Fail, "schema is missing")
	r, _ := f.checker.TenantHealth(context.Background(), "gone")
	if r.Status != health.Fail {
		t.Errorf("report status %s", r.Status)
	}
}

func TestBehindOnMigrations(t *testing.T) {
	t.Run("LowerVersion", func(t *testing.T) {
		f := newFixture(t)
		f.tenant(t, "old")
		f.tenant(t, "new")
		if _, err := f.db.ExecContext(context.Background(), `UPDATE control.tenants SET schema_version = 2 WHERE id = 'old'`); err != nil {
			t.Fatal(err)
		}
		latest := store.LatestVersion(store.TenantMigrations)
		expect(t, f.check(t, "old", "migrations"), health.Warn, fmt.Sprintf("version 2, behind the current %d: run bulkhead migrate", latest))
		expect(t, f.check(t, "new", "migrations"), health.OK, "current version")
		behind, err := health.TenantsBehind(context.Background(), f.tenants)
		if err != nil || len(behind) != 1 || behind[0] != (health.Behind{TenantID: "old", Version: 2, Current: latest}) {
			t.Fatalf("behind: %+v, %v", behind, err)
		}
	})
	t.Run("NewerMigrations", func(t *testing.T) {
		f := newFixture(t)
		f.tenant(t, "acme")
		next := store.Migration{Version: len(store.TenantMigrations) + 1, Name: "next", SQL: `ALTER TABLE users ADD COLUMN nickname text`}
		f.checker.Tenants = &tenant.Service{DB: f.db, Migrations: append(append([]store.Migration{}, store.TenantMigrations...), next)}
		expect(t, f.check(t, "acme", "migrations"), health.Warn, "run bulkhead migrate")
	})
}

func TestProbe(t *testing.T) {
	f := newFixture(t)
	tn := f.tenant(t, "acme")
	expect(t, f.check(t, "acme", "probe"), health.OK, "rolled back")
	var n int
	err := f.db.InTenant(context.Background(), tn.Scope(), func(tx *sqlx.Tx) error { return tx.Get(&n, `SELECT count(*) FROM users`) })
	if err != nil || n != 0 {
		t.Fatalf("after probes: %d users, %v", n, err)
	}
	if _, err := f.db.ExecContext(context.Background(), `DROP TABLE tenant_acme.users CASCADE`); err != nil {
		t.Fatal(err)
	}
	expect(t, f.check(t, "acme", "probe"), health.Fail, "read/write probe failed")
}

func TestQuota(t *testing.T) {
	f := newFixture(t)
	tn := f.tenant(t, "small", func(nt *tenant.NewTenant) { nt.MaxUsers = ptr(5) })
	add := func(n int) {
		err := f.db.InTenant(context.Background(), tn.Scope(), func(tx *sqlx.Tx) error {
			for i := 0; i < n; i++ {
				if _, err := scim.CreateResource(context.Background(), tx, scim.UserResource, map[string]any{"userName": uuid.NewString()}, 5); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(3)
	expect(t, f.check(t, "small", "quota"), health.OK, "3 of 5 users (60%)")
	add(1)
	expect(t, f.check(t, "small", "quota"), health.Warn, "4 of 5 users (80%): over 80%")
	add(1)
	expect(t, f.check(t, "small", "quota"), health.Fail, "5 of 5 users (100%): full, new users are refused")

	res, err := usage.FindResources(context.Background(), f.tenants, tn)
	if err != nil || res.Users != 5 || res.StorageBytes <= 0 || !res.UsersQuota.Warning {
		t.Fatalf("resources %+v, %v", res, err)
	}
}

func TestErrorRateAndLatency(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"steady", "worse", "broken", "quiet"} {
		f.tenant(t, id)
		f.traffic(t, id, time.Now().Add(-2*24*time.Hour), 200, 2, 4*time.Millisecond) // baseline: 1% errors, 5 ms
	}
	now := time.Now()
	f.traffic(t, "steady", now, 100, 1, 4*time.Millisecond)
	f.traffic(t, "worse", now, 100, 10, 200*time.Millisecond)
	f.traffic(t, "broken", now, 100, 60, 3*time.Second)
	f.traffic(t, "quiet", now, 5, 5, time.Millisecond)

	expect(t, f.check(t, "steady", "error_rate"), health.OK, "1.0% of 100 requests failed in the last hour, against 1.0%")
	expect(t, f.check(t, "worse", "error_rate"), health.Warn, "10.0% of 100 requests failed")
	expect(t, f.check(t, "broken", "error_rate"), health.Fail, "60.0% of 100 requests failed")
	expect(t, f.check(t, "quiet", "error_rate"), health.OK, "too few requests in the last hour to judge (5 of at least 20)")

	expect(t, f.check(t, "steady", "latency"), health.OK, "p95 latency 5ms in the last hour, against 5ms")
	expect(t, f.check(t, "worse", "latency"), health.Warn, "p95 latency 250ms")
	expect(t, f.check(t, "broken", "latency"), health.Fail, "p95 latency 5s")

	slow, err := health.SlowestTenants(context.Background(), f.db, 2)
	if err != nil || len(slow) != 2 || slow[0].TenantID != "broken" || slow[1].TenantID != "worse" {
		t.Fatalf("slowest: %+v, %v", slow, err)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "acme")
	ctx := context.Background()
	expect(t, f.check(t, "acme", "tokens"), health.OK, "1 active token, none expiring within 14 days")

	// A token created for 14 days is flagged at once, and reads as
	// expiring in 14 days, not 13.
	fortnight := time.Now().Add(tenant.TokenExpiryWarning)
	if _, err := f.tenants.CreateToken(ctx, "acme", "fortnight", &fortnight, "test"); err != nil {
		t.Fatal(err)
	}
	expect(t, f.check(t, "acme", "tokens"), health.Warn, `"fortnight" (bh_`)
	expect(t, f.check(t, "acme", "tokens"), health.Warn, "expires in 14 days, on "+fortnight.UTC().Format("2 Jan 2006"))
	soon := time.Now().Add(3*24*time.Hour + time.Hour)
	if _, err := f.tenants.CreateToken(ctx, "acme", "okta", &soon, "test"); err != nil {
		t.Fatal(err)
	}
	expect(t, f.check(t, "acme", "tokens"), health.Warn, `"okta" (bh_`)
	expect(t, f.check(t, "acme", "tokens"), health.Warn, "expires in 3 days")
	toks, _ := f.tenants.FindTokens(ctx, "acme")
	for _, k := range toks {
		if _, err := f.tenants.RevokeToken(ctx, "acme", k.ID.String(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, f.check(t, "acme", "tokens"), health.Fail, "no active token")
}

func TestLastWrite(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "fresh")
	f.tenant(t, "stale")
	f.tenant(t, "now")
	write := func(id string, at time.Time, idp string) {
		f.meter.Record(usage.Event{TenantID: id, At: at, Resource: usage.ResourceUsers, Operation: usage.OpCreate, Status: 201, IdP: idp})
		f.meter.Record(usage.Event{TenantID: id, At: at.Add(time.Minute), Resource: usage.ResourceUsers, Operation: usage.OpCreate, Status: 409, IdP: usage.IdPUnknown})
	}
	write("fresh", time.Now().Add(-3*time.Hour), usage.IdPOkta)
	write("stale", time.Now().Add(-9*24*time.Hour), usage.IdPEntra)
	write("now", time.Now(), usage.IdPOkta)
	if err := f.meter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, f.check(t, "fresh", "last_write"), health.OK, "last successful SCIM write 3 hours ago, by Okta")
	expect(t, f.check(t, "now", "last_write"), health.OK, "last successful SCIM write under a minute ago, by Okta")
	expect(t, f.check(t, "stale", "last_write"), health.Warn, "9 days ago, by Microsoft Entra ID: the identity provider may have stopped syncing")
}

func TestNoisyNeighbour(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("calm%d", i)
		f.tenant(t, id)
		f.traffic(t, id, now, 100, 0, time.Millisecond)
	}
	f.tenant(t, "loud")
	f.traffic(t, "loud", now, 1000, 0, time.Millisecond)
	expect(t, f.check(t, "loud", "noisy_neighbour"), health.Warn, "1000 requests, 10.0× the median tenant's 100")
	expect(t, f.check(t, "calm0", "noisy_neighbour"), health.OK, "within twice the median of 6 active tenants")
}

func TestReportIsCached(t *testing.T) {
	f := newFixture(t)
	f.tenant(t, "acme")
	f.checker.TTL = time.Minute
	ctx := context.Background()
	a, _ := f.checker.TenantHealth(ctx, "acme")
	if _, err := f.db.ExecContext(context.Background(), `DROP SCHEMA tenant_acme CASCADE`); err != nil {
		t.Fatal(err)
	}
	b, _ := f.checker.TenantHealth(ctx, "acme")
	if a != b || b.Status != health.OK {
		t.Fatal("the report was not cached")
	}
	f.checker.TTL = 0
	if c, _ := f.checker.TenantHealth(ctx, "acme"); c.Status != health.Fail {
		t.Fatalf("after the cache: %s", c.Status)
	}
}

func TestPoolStats(t *testing.T) {
	f := newFixture(t)
	if s := health.PoolStats(f.db); s.MaxOpenConnections != store.DefaultMaxOpenConns || s.OpenConnections < 1 {
		t.Fatalf("pool stats %+v", s)
	}
}
