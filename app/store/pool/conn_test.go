package pool_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/pool"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// createTenants creates n tenants t000, t001, … through the production
// path.
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

// TestInTenantFailedBegin: when the statements sent with BEGIN fail (here a
// strict tenant whose role is gone), InTenant returns the error and the
// connection goes back to the pool outside any transaction, with the
// default search_path.
func TestInTenantFailedBegin(t *testing.T) {
	db := storetest.NewDB(t)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	tn, _, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "gone", Strict: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	role := db.RoleName(tn.ID)
	if _, err := db.ExecContext(ctx, `DROP OWNED BY "`+role+`"; DROP ROLE "`+role+`"`); err != nil {
		t.Fatal(err)
	}
	ran := false
	err = db.InTenant(ctx, tn.Scope(), func(*sqlx.Tx) error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("InTenant with a missing role: err %v, fn ran %v", err, ran)
	}
	var path string
	var inTx bool
	if err := db.QueryRowxContext(ctx, `SELECT current_setting('search_path'), now() <> statement_timestamp()`).Scan(&path, &inTx); err != nil {
		t.Fatal(err)
	}
	if path != `"$user", public` || inTx {
		t.Fatalf("after a failed begin the connection has search_path %q, in a transaction: %v", path, inTx)
	}
	// The snapshot option reaches the server.
	var iso string
	err = db.InTenantTx(ctx, store.Scope{TenantID: tn.ID}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &iso, `SELECT current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only')`)
	})
	if err != nil || iso != "repeatable read on" {
		t.Fatalf("isolation %q, err %v", iso, err)
	}
}

// BenchmarkInTenantBegin prints what entering a tenant costs: an empty
// InTenant (BEGIN with SET LOCAL in one round trip, then COMMIT) against
// BEGIN and SET LOCAL sent separately, as before.
func BenchmarkInTenantBegin(b *testing.B) {
	db := storetest.NewDB(b)
	ctx := context.Background()
	tn, _, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "rt"}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	const n = 2000
	measure := func(fn func() error) (med, p99 time.Duration) {
		durs := make([]time.Duration, n)
		for i := range durs {
			start := time.Now()
			if err := fn(); err != nil {
				b.Fatal(err)
			}
			durs[i] = time.Since(start)
		}
		slices.Sort(durs)
		return durs[n/2], durs[n*99/100]
	}
	measure(func() error { // warm up the connection and caches
		return db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return nil })
	})
	oneTrip, oneP99 := measure(func() error {
		return db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return nil })
	})
	twoTrips, twoP99 := measure(func() error {
		return db.Transact(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `SET LOCAL search_path TO "tenant_rt"`)
			return err
		})
	})
	fmt.Fprintf(os.Stdout, "\nEntering a tenant, empty transaction, %d sequential:\n\n| how | median | p99 |\n|---|---:|---:|\n"+
		"| BEGIN; SET LOCAL … in one query, COMMIT (InTenant) | %.0f µs | %.0f µs |\n"+
		"| BEGIN, SET LOCAL …, COMMIT | %.0f µs | %.0f µs |\n",
		n, us(oneTrip), us(oneP99), us(twoTrips), us(twoP99))
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// TestThroughPgBouncer checks, when make test-pgbouncer runs the suite,
// that the tests really reach PostgreSQL through the pooler: the port in
// the DSN is PgBouncer's, not the server's.
func TestThroughPgBouncer(t *testing.T) {
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") == "" {
		t.Skip("only under make test-pgbouncer")
	}
	db := storetest.NewDB(t)
	var serverPort *int // NULL over a unix socket
	if err := db.GetContext(context.Background(), &serverPort, `SELECT inet_server_port()`); err != nil {
		t.Fatal(err)
	}
	if serverPort != nil && strings.Contains(db.DSN, fmt.Sprintf(":%d/", *serverPort)) {
		t.Fatalf("DSN %s points at PostgreSQL itself (port %d)", db.DSN, *serverPort)
	}
}

// TestMaxConnSchemas: a connection is replaced once it has worked in
// MaxConnSchemas tenant schemas, however few transactions that took, and a
// connection that keeps serving the same tenants is kept, however many.
func TestMaxConnSchemas(t *testing.T) {
	db, ts := openPool(t, 4, store.Options{MaxOpenConns: 1, MaxConnSchemas: 2})
	ctx := context.Background()
	pid := func(tn *tenant.Tenant) int { return backendOf(t, db, tn) }
	first := pid(ts[0])
	for range 20 {
		if p := pid(ts[0]); p != first {
			t.Fatalf("one tenant's transactions moved from backend %d to %d", first, p)
		}
	}
	// Control-plane transactions touch no tenant schema and count for nothing.
	if err := db.Transact(ctx, func(tx *sqlx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if p := pid(ts[1]); p != first {
		t.Fatalf("the second schema ran on a new backend %d, want %d", p, first)
	}
	// That was the second schema: the connection is closed after it.
	second := pid(ts[2])
	if second == first {
		t.Fatalf("backend %d kept working after %d schemas", first, 3)
	}
	if p := pid(ts[3]); p != second {
		t.Fatalf("backend %d was replaced after one schema (now %d)", second, p)
	}
}

// oneConnPool opens a pool of one connection without lanes over a new
// database with two tenants, so that its transactions share one backend
// (behind PgBouncer, one client connection). It returns the pool, a
// second pool on the same database, and the tenants.
func oneConnPool(t *testing.T) (db, db0 *store.DB, ts []*tenant.Tenant) {
	t.Helper()
	db0 = storetest.NewDB(t)
	ts = createTenants(t, tenant.NewService(db0), 2, false)
	db, err := store.Open(context.Background(), db0.DSN, store.Options{MaxOpenConns: 1, Lanes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, db0, ts
}

// userLookup reads a user's name by id.
const userLookup = `SELECT user_name FROM users WHERE id = $1`

// lookUpUnknown runs userLookup as a lookup for an id no user has.
func lookUpUnknown(ctx context.Context, q sqlx.QueryerContext) error {
	var name string
	if err := sqlx.GetContext(store.Lookup(ctx), q, &name, userLookup, uuid.NewString()); err != sql.ErrNoRows {
		return fmt.Errorf("lookup of an unknown id: %v, %q", err, name)
	}
	return nil
}

// TestLookupsStayInTheirTenant: a lookup runs as a statement prepared once
// per tenant on the connection, and reads its own tenant's tables, also
// when tenants take turns on one connection and after a migration changed
// the table. Behind a transaction pooler nothing is prepared.
func TestLookupsStayInTheirTenant(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	ids := make([]string, len(ts))
	for i, tn := range ts {
		ids[i] = uuid.NewString()
		if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{}')`, ids[i], "user of "+tn.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := 2 // statements prepared: one per tenant
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		want = 0
	}
	check := func(round int) {
		t.Helper()
		for i, tn := range ts {
			var name string
			var prepared int
			if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
				if err := tx.GetContext(store.Lookup(ctx), &name, userLookup, ids[i]); err != nil {
					return err
				}
				return tx.GetContext(ctx, &prepared, `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`, userLookup)
			}); err != nil {
				t.Fatalf("round %d, tenant %s: %v", round, tn.ID, err)
			}
			if name != "user of "+tn.ID {
				t.Fatalf("round %d: tenant %s's lookup read %q", round, tn.ID, name)
			}
			if round > 0 && prepared != want {
				t.Fatalf("round %d: %d statements prepared on the connection, want %d", round, prepared, want)
			}
		}
	}
	// Past PostgreSQL's five custom plans, to the generic one.
	for round := range 7 {
		check(round)
	}
	if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE users ADD COLUMN lookup_test int`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check(7)
}

// TestOnlyLookupsPlanOnce: in a transaction of lookups only, a lookup uses
// its generic plan from its first run instead of being planned afresh for
// five runs, and the setting ends with the transaction, so the next one on
// the connection plans as usual.
func TestOnlyLookupsPlanOnce(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	pooler := os.Getenv("BULKHEAD_TEST_PGBOUNCER") != ""
	// plans runs the lookup once in tn, in a transaction of lookups only
	// if only, and returns how often PostgreSQL planned it generically and
	// afresh, and the transaction's plan mode. Its other statements are
	// lookups too, which a transaction of lookups only requires.
	plans := func(ctx context.Context, tn *tenant.Tenant, only bool) (generic, custom int, mode string) {
		t.Helper()
		scope := tn.Scope()
		scope.LookupsOnly = only
		if err := db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
			if err := lookUpUnknown(ctx, tx); err != nil {
				return err
			}
			if err := tx.GetContext(store.Lookup(ctx), &mode, `SELECT current_setting('plan_cache_mode')`); err != nil {
				return err
			}
			err := tx.QueryRowContext(store.Lookup(ctx), `SELECT generic_plans, custom_plans FROM pg_prepared_statements
				WHERE statement = $1 ORDER BY prepare_time DESC LIMIT 1`, userLookup).Scan(&generic, &custom)
			if pooler && err == sql.ErrNoRows {
				return nil // nothing is prepared behind a transaction pooler
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return generic, custom, mode
	}
	g, c, mode := plans(ctx, ts[0], true)
	if mode != "force_generic_plan" || !pooler && (g != 1 || c != 0) {
		t.Errorf("lookups only: plan mode %s, %d generic and %d custom plans; want force_generic_plan, 1 and 0", mode, g, c)
	}
	g, c, mode = plans(ctx, ts[1], false)
	if mode != "auto" || !pooler && (g != 0 || c != 1) {
		t.Errorf("next transaction: plan mode %s, %d generic and %d custom plans; want auto, 0 and 1", mode, g, c)
	}
}

// TestOnlyLookupsRefuseOtherStatements: a transaction of lookups only
// refuses any other statement, whose plan could depend on its values, and
// rolls back; the next transaction on the connection runs as usual.
func TestOnlyLookupsRefuseOtherStatements(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	scope := ts[0].Scope()
	scope.LookupsOnly = true
	for _, tt := range []struct {
		name string
		run  func(tx *sqlx.Tx) error
	}{
		{"Query", func(tx *sqlx.Tx) error {
			var n int
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM users WHERE user_name LIKE $1`, "%a%")
		}},
		{"Exec", func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, 'refused', '{}')`, uuid.NewString())
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
				if err := lookUpUnknown(ctx, tx); err != nil {
					return err
				}
				return tt.run(tx)
			})
			if !errors.Is(err, pool.ErrNotLookup) {
				t.Fatalf("a plain statement in a transaction of lookups only: %v, want ErrNotLookup", err)
			}
			var n int
			if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
				return tx.GetContext(ctx, &n, `SELECT count(*) FROM users WHERE user_name LIKE $1`, "refused")
			}); err != nil || n != 0 {
				t.Fatalf("the next transaction: %d refused rows, %v", n, err)
			}
		})
	}
}

// TestLookupsPauseWhileTenantsMigrate: while tenants are migrated, a
// server's connections drop their prepared lookups and final statements
// and prepare none, since PostgreSQL checks each against every change of
// any tenant's schema; once the migration ends they prepare them again.
func TestLookupsPauseWhileTenantsMigrate(t *testing.T) {
	ctx := context.Background()
	db, db0, ts := oneConnPool(t)
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	// What the listener logs (a lost connection) shows in a failure.
	go func() { db.FollowMigrations(fctx, slog.New(slog.NewTextHandler(t.Output(), nil))); close(followed) }()
	defer func() { stop(); <-followed }()
	pooler := os.Getenv("BULKHEAD_TEST_PGBOUNCER") != ""
	want := func(n int) int {
		if pooler {
			return 0 // nothing is prepared behind a transaction pooler
		}
		return n
	}
	// prepared runs a final statement and a lookup and returns how many
	// statements the connection then holds, waiting up to 15 s for it to
	// be n: what the migration announces travels through PostgreSQL, and
	// an announcement missed (a listener reconnecting) comes again 10 s
	// later.
	prepared := func(n int) int {
		t.Helper()
		var got int
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
				return tx.GetContext(store.Final(ctx), &got, `SELECT count(*) FROM users`)
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
				if err := lookUpUnknown(ctx, tx); err != nil {
					return err
				}
				return tx.GetContext(ctx, &got, `SELECT count(*) FROM pg_prepared_statements`)
			}); err != nil {
				t.Fatal(err)
			}
			if got == n || time.Now().After(deadline) {
				return got
			}
		}
	}
	if n := prepared(want(2)); n != want(2) {
		t.Fatalf("before the migration: %d statements prepared, want %d", n, want(2))
	}
	if !pooler { // the listener is there before the migration starts
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var listening bool
			if err := db0.GetContext(ctx, &listening, `SELECT EXISTS (SELECT FROM pg_stat_activity
				WHERE datname = current_database() AND query = 'LISTEN "bulkhead_migrations"')`); err != nil {
				t.Fatal(err)
			}
			if listening {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("FollowMigrations does not listen")
			}
		}
	}
	svc := tenant.NewService(db0)
	svc.Migrations = append(slices.Clone(store.TenantMigrations), store.Migration{
		Version: len(store.TenantMigrations) + 1, Name: "pause test", SQL: `ALTER TABLE users ADD COLUMN pause_test int`,
	})
	var during []int
	_, failed, err := svc.MigrateTenants(ctx, tenant.MigrateOptions{Workers: 1, Progress: func(tenant.MigrationResult) {
		during = append(during, prepared(0))
	}})
	if err != nil || failed > 0 {
		t.Fatalf("migrate: %d failed, %v", failed, err)
	}
	if len(during) != len(ts) || slices.Max(during) != 0 {
		t.Fatalf("statements prepared during the migration, after each tenant: %v; want none", during)
	}
	if n := prepared(want(2)); n != want(2) {
		t.Fatalf("after the migration: %d statements prepared, want %d", n, want(2))
	}
}

// TestTenantTransactionsWithoutJIT: a tenant transaction runs with JIT
// off, which would otherwise spend seconds compiling the plan of a filter
// of a few subqueries, and the setting ends with the transaction.
func TestTenantTransactionsWithoutJIT(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	var inside, outside string
	if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &inside, `SHOW jit`)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &outside, `SELECT reset_val FROM pg_settings WHERE name = 'jit'`); err != nil {
		t.Fatal(err)
	}
	var after string
	if err := db.GetContext(ctx, &after, `SHOW jit`); err != nil {
		t.Fatal(err)
	}
	if inside != "off" || after != outside {
		t.Errorf("jit in a tenant transaction %s, after it %s; want off, then the server's %s", inside, after, outside)
	}
}
