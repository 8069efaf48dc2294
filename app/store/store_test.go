package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func createTenants(t *testing.T, s *tenant.Service, n int, strict bool) []*tenant.Tenant {
	t.Helper()
	var ts []*tenant.Tenant
	for i := 0; i < n; i++ {
		tn, _, err := s.CreateTenant(context.Background(), tenant.NewTenant{ID: fmt.Sprintf("t%03d", i), Strict: strict}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tn)
	}
	return ts
}

func insertUser(ctx context.Context, tx *sqlx.Tx, userName string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{}')`, uuid.New(), userName)
	return err
}

// TestInTenantIsolation hammers many tenants from many goroutines over a
// small pool: no transaction ever sees another tenant's rows, and no
// connection goes back to the pool with a tenant's search_path.
func TestInTenantIsolation(t *testing.T) {
	db := storetest.NewDB(t)
	db.SetMaxOpenConns(8)
	ctx := context.Background()
	tenants := createTenants(t, tenant.NewService(db), 200, false)
	for _, tn := range tenants {
		if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return insertUser(ctx, tx, tn.ID+"-seed") }); err != nil {
			t.Fatal(err)
		}
	}
	var defaultPath string
	if err := db.GetContext(ctx, &defaultPath, `SHOW search_path`); err != nil {
		t.Fatal(err)
	}

	var txs, crossed, leaked atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				tn := tenants[rand.IntN(len(tenants))]
				err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
					if rand.IntN(4) == 0 {
						if err := insertUser(ctx, tx, tn.ID+"-"+uuid.NewString()); err != nil {
							return err
						}
					}
					var names []string
					if err := tx.SelectContext(ctx, &names, `SELECT user_name FROM users`); err != nil {
						return err
					}
					for _, n := range names {
						if !strings.HasPrefix(n, tn.ID+"-") {
							crossed.Add(1)
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				txs.Add(1)
				var path string
				if err := db.GetContext(ctx, &path, `SHOW search_path`); err != nil {
					errs <- err
					return
				}
				if path != defaultPath {
					leaked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if crossed.Load() != 0 || leaked.Load() != 0 {
		t.Fatalf("%d rows crossed tenants and %d connections kept a tenant search_path, over %d transactions", crossed.Load(), leaked.Load(), txs.Load())
	}
	if txs.Load() < 200 {
		t.Fatalf("only %d transactions ran", txs.Load())
	}
	t.Logf("%d transactions over %d tenants, none crossed", txs.Load(), len(tenants))
}

// TestStrictTenantCannotNameOtherSchema: a strict tenant's transaction runs
// under its own role, so PostgreSQL itself refuses another tenant's table.
func TestStrictTenantCannotNameOtherSchema(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	s := tenant.NewService(db)
	other, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "other"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTenant(ctx, other.Scope(), func(tx *sqlx.Tx) error { return insertUser(ctx, tx, "secret") }); err != nil {
		t.Fatal(err)
	}
	strict, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "locked", Strict: true}, "test")
	if err != nil {
		t.Fatal(err)
	}

	for _, q := range []string{
		`SELECT count(*) FROM tenant_other.users`,
		`SELECT count(*) FROM control.tokens`,
	} {
		t.Run(q, func(t *testing.T) {
			err := db.InTenant(ctx, strict.Scope(), func(tx *sqlx.Tx) error {
				var n int
				return tx.GetContext(ctx, &n, q)
			})
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "42501" {
				t.Fatalf("got %v, want permission denied (42501)", err)
			}
		})
	}
	// Its own tables work.
	err = db.InTenant(ctx, strict.Scope(), func(tx *sqlx.Tx) error {
		if err := insertUser(ctx, tx, "mine"); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM users`); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("strict tenant sees %d users, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A standard tenant, by contrast, is confined by search_path only.
	err = db.InTenant(ctx, other.Scope(), func(tx *sqlx.Tx) error {
		var n int
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM tenant_locked.users`)
	})
	if err != nil {
		t.Fatalf("standard tenant naming a schema: %v", err)
	}
}

// TestInTenantRollsBack: an error or a panic in fn leaves nothing written.
func TestInTenantRollsBack(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	tn := createTenants(t, tenant.NewService(db), 1, false)[0]
	boom := errors.New("boom")

	err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		if err := insertUser(ctx, tx, "by-error"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the function's error", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_ = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			if err := insertUser(ctx, tx, "by-panic"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	var n int
	err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &n, `SELECT count(*) FROM users`) })
	if err != nil || n != 0 {
		t.Fatalf("after rollbacks: %d users, err %v; want 0", n, err)
	}
}

func TestInTenantRejectsBadID(t *testing.T) {
	db := storetest.NewDB(t)
	for _, id := range []string{"", "Acme", `x"; DROP SCHEMA control CASCADE; --`, "1abc", strings.Repeat("a", 41)} {
		err := db.InTenant(context.Background(), store.Scope{TenantID: id}, func(*sqlx.Tx) error { return nil })
		if err == nil {
			t.Errorf("InTenant(%q) succeeded", id)
		}
	}
}

// TestMigrateControlConcurrently: instances starting together on an empty
// database all come up, and the control plane is migrated once.
func TestMigrateControlConcurrently(t *testing.T) {
	url := storetest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.MigrateControl(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += applied[i]
	}
	if want := len(store.ControlMigrations); total != want {
		t.Fatalf("migrations applied %d times in all, want %d", total, want)
	}
}

// TestValidTenantID: a tenant id is a lowercase letter, then up to 39
// lowercase letters, digits or underscores; anything else is refused
// before it names a schema.
func TestValidTenantID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"acme_1", true},
		{"a" + strings.Repeat("b", 39), true},
		{"a" + strings.Repeat("b", 40), false},
		{"", false},
		{"1acme", false},
		{"_acme", false},
		{"Acme", false},
		{"acme-1", false},
		{"acme.", false},
		{"acme\x00", false},
		{"acmé", false},
		{`acme"; DROP`, false},
	} {
		if got := store.ValidTenantID(tt.id); got != tt.want {
			t.Errorf("ValidTenantID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// TestTenantTables: store.TenantTables names every table of a tenant
// schema, so that usage.StorageBytes, which sums the disk space of those
// tables found by name, measures what a scan of the catalog for the
// schema's tables would: a migration that adds a table must add it there.
func TestTenantTables(t *testing.T) {
	ctx := context.Background()
	db := storetest.NewDB(t)
	tn := createTenants(t, tenant.NewService(db), 1, false)[0]
	var tables []string
	if err := db.SelectContext(ctx, &tables, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p') ORDER BY 1`, store.SchemaName(tn.ID)); err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values(store.TenantTables)); !slices.Equal(tables, want) {
		t.Fatalf("a tenant schema has the tables %q; store.TenantTables says %q", tables, want)
	}
	var scanned int64
	if err := db.GetContext(ctx, &scanned, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')`, store.SchemaName(tn.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := usage.StorageBytes(ctx, db, tn.ID)
	if err != nil || got != scanned || got == 0 {
		t.Fatalf("usage.StorageBytes = %d, %v; the catalog's tables of the schema take %d bytes", got, err, scanned)
	}
}
