package tenant_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestSparesUnderConcurrency: tenants created at once, more than there are
// spares, each get a schema of their own: every spare is handed out once,
// the rest are built on the spot, and every tenant's schema works (its
// counters count its own rows).
func TestSparesUnderConcurrency(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	s := tenant.NewService(db)
	const spares, tenants = 6, 12
	if n, err := s.FillSpares(ctx, spares); err != nil || n != spares {
		t.Fatalf("FillSpares created %d, %v; want %d", n, err, spares)
	}
	if n, err := s.FillSpares(ctx, spares); err != nil || n != 0 {
		t.Fatalf("a full pool: FillSpares created %d, %v; want 0", n, err)
	}
	var spareOIDs []int64
	if err := db.SelectContext(ctx, &spareOIDs, `SELECT oid::int8 FROM pg_namespace WHERE nspname LIKE 'bulkhead_spare_%'`); err != nil || len(spareOIDs) != spares {
		t.Fatalf("%d spare schemas, %v", len(spareOIDs), err)
	}

	var wg sync.WaitGroup
	errs := make([]error, tenants)
	for i := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("c%02d", i)}, "test")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var left, renamed, schemas int
	if err := db.GetContext(ctx, &left, `SELECT count(*) FROM control.spare_schemas`); err != nil || left != 0 {
		t.Fatalf("%d spares left, %v; want 0", left, err)
	}
	if err := db.GetContext(ctx, &renamed, `SELECT count(*) FROM pg_namespace WHERE oid::int8 = ANY($1) AND nspname LIKE 'tenant_c%'`, spareOIDs); err != nil || renamed != spares {
		t.Fatalf("%d spares became tenants, %v; want %d", renamed, err, spares)
	}
	if err := db.GetContext(ctx, &schemas, `SELECT count(DISTINCT oid) FROM pg_namespace WHERE nspname LIKE 'tenant_c%'`); err != nil || schemas != tenants {
		t.Fatalf("%d tenant schemas, %v; want %d", schemas, err, tenants)
	}
	for i := range tenants {
		tn, err := s.FindTenant(ctx, fmt.Sprintf("c%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if tn.SchemaVersion != store.LatestVersion(s.Migrations) {
			t.Fatalf("tenant %s at version %d", tn.ID, tn.SchemaVersion)
		}
		var count int
		err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			for range i + 1 {
				if _, err := scim.CreateResource(ctx, tx, scim.UserResource, map[string]any{"userName": uuid.NewString()}, 100); err != nil {
					return err
				}
			}
			return tx.GetContext(ctx, &count, `SELECT value FROM counters WHERE name = 'users'`)
		})
		if err != nil || count != i+1 {
			t.Fatalf("tenant %s counts %d users, %v; want %d", tn.ID, count, err, i+1)
		}
	}
}

// TestSparesFollowMigrations: migrating moves spares to the new version
// with the tenants, and a spare made by other migrations is dropped, never
// handed out.
func TestSparesFollowMigrations(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	load := func(files map[string]string) []store.Migration {
		fs := fstest.MapFS{}
		for k, v := range files {
			fs["t/"+k] = &fstest.MapFile{Data: []byte(v)}
		}
		ms, err := store.LoadMigrations(fs, "t")
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	v1 := load(map[string]string{"001_a.sql": `CREATE TABLE a (id int);`})
	other := load(map[string]string{"001_x.sql": `CREATE TABLE x (id int);`})
	v2 := load(map[string]string{"001_a.sql": `CREATE TABLE a (id int);`, "002_b.sql": `ALTER TABLE a ADD COLUMN b int NOT NULL DEFAULT 7;`})

	s := &tenant.Service{DB: db, Migrations: v1}
	if _, err := s.FillSpares(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := (&tenant.Service{DB: db, Migrations: other}).FillSpares(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Migrations = v2
	if _, _, err := s.MigrateTenants(ctx, tenant.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	var spares []store.SpareSchema
	if err := db.SelectContext(ctx, &spares, `SELECT name, schema_version, fingerprint FROM control.spare_schemas`); err != nil {
		t.Fatal(err)
	}
	if len(spares) != 2 || spares[0].SchemaVersion != 2 || spares[0].Fingerprint != store.Fingerprint(v2) {
		t.Fatalf("spares after migrate: %+v", spares)
	}
	tn, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "fresh"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var b int
	err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO a (id) VALUES (1)`); err != nil {
			return err
		}
		return tx.GetContext(ctx, &b, `SELECT b FROM a`)
	})
	if err != nil || b != 7 {
		t.Fatalf("a tenant from a migrated spare: b = %d, %v", b, err)
	}
	var x int
	if err := db.GetContext(ctx, &x, `SELECT count(*) FROM pg_tables WHERE tablename = 'x'`); err != nil || x != 0 {
		t.Fatalf("the foreign spare's table is still there (%d, %v)", x, err)
	}
}
