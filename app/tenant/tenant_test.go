package tenant_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestCreateTenant(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		tn, tok, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme", Name: "Acme", Plan: tenant.PlanTrial}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if tn.SchemaVersion != store.LatestVersion(store.TenantMigrations) || tn.TrialEndsAt == nil || tn.Status != tenant.StatusActive {
			t.Fatalf("tenant = %+v", tn)
		}
		got, err := credential.NewService(s).Authenticate(ctx, tok.Secret)
		if err != nil || got.Tenant.ID != "acme" {
			t.Fatalf("the first token does not authenticate: %v", err)
		}
		var stored int
		if err := db.GetContext(ctx, &stored, `SELECT count(*) FROM control.tokens WHERE hash = convert_to($1, 'UTF8')`, tok.Secret); err != nil || stored != 0 {
			t.Fatalf("the token secret is stored in clear (%d rows, %v)", stored, err)
		}
		p, err := s.FindPermissions(ctx, "acme")
		if err != nil || *p != tenant.Plans[tenant.PlanTrial].Permissions {
			t.Fatalf("permissions = %+v, %v; want the trial preset", p, err)
		}
	})

	for _, tt := range []struct {
		name string
		nt   tenant.NewTenant
		code string
	}{
		{"ErrUppercaseID", tenant.NewTenant{ID: "Acme"}, app.EINVALID},
		{"ErrLeadingDigit", tenant.NewTenant{ID: "1acme"}, app.EINVALID},
		{"ErrHyphen", tenant.NewTenant{ID: "ac-me"}, app.EINVALID},
		{"ErrTooLong", tenant.NewTenant{ID: "a234567890123456789012345678901234567890x"}, app.EINVALID},
		{"ErrInjection", tenant.NewTenant{ID: `a"; DROP SCHEMA control; --`}, app.EINVALID},
		{"ErrUnknownPlan", tenant.NewTenant{ID: "planless", Plan: "gold"}, app.EINVALID},
		{"ErrNegativeLimit", tenant.NewTenant{ID: "negative", MaxUsers: ptr(-1)}, app.EINVALID},
		{"ErrDuplicate", tenant.NewTenant{ID: "acme"}, app.ECONFLICT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := countTenants(t, db)
			_, _, err := s.CreateTenant(ctx, tt.nt, "test")
			if got := app.ErrorCode(err); got != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, got, tt.code)
			}
			if after := countTenants(t, db); after != before {
				t.Fatalf("%d tenants before, %d after a refused create", before, after)
			}
		})
	}
}

// TestCreateTenantFailingMigration: a migration that fails halfway leaves
// neither a schema nor a control row.
func TestCreateTenantFailingMigration(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	ms, err := store.LoadMigrations(fstest.MapFS{
		"t/001_ok.sql":     {Data: []byte(`CREATE TABLE things (id int PRIMARY KEY);`)},
		"t/002_broken.sql": {Data: []byte(`CREATE TABLE more (id int); SELECT no_such_function();`)},
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, strict := range []bool{false, true} {
		s := &tenant.Service{DB: db, Migrations: ms}
		_, _, err = s.CreateTenant(ctx, tenant.NewTenant{ID: "halfway", Strict: strict}, "test")
		if err == nil {
			t.Fatal("create succeeded with a broken migration")
		}
		var schemas, rows, roles int
		if err := db.GetContext(ctx, &schemas, `SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_halfway'`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &rows, `SELECT (SELECT count(*) FROM control.tenants) + (SELECT count(*) FROM control.tokens) + (SELECT count(*) FROM control.audit_events)`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &roles, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, db.RoleName("halfway")); err != nil {
			t.Fatal(err)
		}
		if schemas+rows+roles != 0 {
			t.Fatalf("strict=%v: left %d schemas, %d control rows, %d roles", strict, schemas, rows, roles)
		}
	}
}

func TestTenantLifecycle(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	ctx := context.Background()
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme", Strict: true}, "test"); err != nil {
		t.Fatal(err)
	}

	audited := func(action string) int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM control.audit_events WHERE action = $1`, action); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, wantChanged := range []bool{true, false} {
		tn, changed, err := s.SetStatus(ctx, "acme", tenant.StatusSuspended, "test")
		if err != nil || tn.Status != tenant.StatusSuspended || changed != wantChanged {
			t.Fatalf("suspend #%d: %+v, changed %v, %v", i+1, tn, changed, err)
		}
	}
	if n := audited("tenant.suspend"); n != 1 {
		t.Fatalf("two suspends recorded %d audit events, want 1", n)
	}
	if _, _, err := s.SetStatus(ctx, "nope", tenant.StatusActive, "test"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("resume of a missing tenant: %v", err)
	}

	tok, err := s.CreateToken(ctx, "acme", "okta", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := credential.NewService(s).Authenticate(ctx, tok.Secret); err != nil {
		t.Fatalf("new token: %v", err)
	}
	for i, wantRevoked := range []bool{true, false} {
		if revoked, err := s.RevokeToken(ctx, "acme", tok.ID.String(), "test"); err != nil || revoked != wantRevoked {
			t.Fatalf("revoke #%d: revoked %v, %v", i+1, revoked, err)
		}
	}
	if n := audited("token.revoke"); n != 1 {
		t.Fatalf("two revocations recorded %d audit events, want 1", n)
	}
	if _, err := credential.NewService(s).Authenticate(ctx, tok.Secret); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("revoked token: %v, want unauthorized", err)
	}
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "other"}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"other", "nope"} {
		if _, err := s.RevokeToken(ctx, owner, tok.ID.String(), "test"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("revoking through tenant %s: %v, want not found", owner, err)
		}
	}
	if err := s.DeleteTenant(ctx, "other", "test"); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteTenant(ctx, "acme", "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenant(ctx, "acme", "test"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("second delete: %v, want not found", err)
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_acme') + (SELECT count(*) FROM pg_roles WHERE rolname = $1) + (SELECT count(*) FROM control.tokens)`, db.RoleName("acme")); err != nil || left != 0 {
		t.Fatalf("delete left %d schemas, roles or tokens (%v)", left, err)
	}
	// The id can be used again.
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme", Strict: true}, "test"); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}

func TestMigrateTenants(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	v1, err := store.LoadMigrations(fstest.MapFS{"t/001_a.sql": {Data: []byte(`CREATE TABLE a (id int);`)}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	s := &tenant.Service{DB: db, Migrations: v1}
	for _, id := range []string{"one", "two", "three"} {
		if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: id, Strict: id == "three"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Tenant two's schema has a column in the way of version 2: it fails,
	// the others go on.
	if _, err := db.ExecContext(ctx, `ALTER TABLE tenant_two.a ADD COLUMN b int`); err != nil {
		t.Fatal(err)
	}
	v2, err := store.LoadMigrations(fstest.MapFS{
		"t/001_a.sql": {Data: []byte(`CREATE TABLE a (id int);`)},
		"t/002_b.sql": {Data: []byte(`ALTER TABLE a ADD COLUMN b int NOT NULL DEFAULT 0; CREATE INDEX ON a (b);`)},
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	s.Migrations = v2
	migrated, failed, err := s.MigrateTenants(ctx, tenant.MigrateOptions{Workers: 2})
	if err != nil || migrated != 2 || failed != 1 {
		t.Fatalf("first run: %d migrated, %d failed, %v; want 2 and 1", migrated, failed, err)
	}
	// Fix tenant two; a second run resumes with it alone.
	if _, err := db.ExecContext(ctx, `ALTER TABLE tenant_two.a DROP COLUMN b`); err != nil {
		t.Fatal(err)
	}
	migrated, failed, err = s.MigrateTenants(ctx, tenant.MigrateOptions{})
	if err != nil || migrated != 1 || failed != 0 {
		t.Fatalf("second run: %d migrated, %d failed, %v; want 1 and 0", migrated, failed, err)
	}
	vs, err := s.MigrationStatus(ctx)
	if err != nil || len(vs) != 1 || vs[0] != (tenant.VersionCount{Version: 2, Tenants: 3}) {
		t.Fatalf("status = %+v, %v", vs, err)
	}
	// The strict tenant's role can use the new column.
	tn, err := s.FindTenant(ctx, "three")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO a (id, b) VALUES (1, 2)`)
		return err
	}); err != nil {
		t.Fatalf("strict tenant after migration: %v", err)
	}
}

func countTenants(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.GetContext(context.Background(), &n, `SELECT count(*) FROM control.tenants`); err != nil {
		t.Fatal(err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }
