package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/pool"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestOneLookupKeepsTheTransaction: a transaction of one lookup
// (store.InTenantLookup), sent with its settings in one round trip, runs
// its lookup with everything a tenant transaction gives: the tenant's
// search_path and strict role, the shared tenant lock, the statement
// timeout, the generic plan; reads the same values as an ordinary
// transaction; and leaves the connection outside any transaction with
// nothing of its settings. Off a transaction pooler the round trip
// prepared its lookup under a name of its own (bk_…), which shows it ran.
// A search (store.InTenantSearch) gets the same in one round trip, with
// PostgreSQL's own plan mode, and prepares nothing of its statement.
func TestOneLookupKeepsTheTransaction(t *testing.T) {
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	ts := createTenants(t, tenant.NewService(db0), 2, true)
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 1, Lanes: -1, StatementTimeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	id := uuid.NewString()
	for _, tn := range ts {
		if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{"userName": "x", "n": 1}')`, id, "user of "+tn.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		User, Path, Timeout, Plan, JIT, Name string
		Locks, Version                       int
		Created                              time.Time
		Data                                 []byte
		Active                               bool
	}
	const q = `SELECT current_user, current_setting('search_path'), current_setting('statement_timeout'),
		current_setting('plan_cache_mode'), current_setting('jit'), user_name,
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ShareLock'),
		version, created, data, version > 0
		FROM users WHERE id = $1`
	pgbouncer := os.Getenv("BULKHEAD_TEST_PGBOUNCER") != ""
	// read reads the row as a lookup (one), a search (InTenantSearch) or
	// in an ordinary transaction of lookups.
	read := func(tn *tenant.Tenant, how string) (r row) {
		t.Helper()
		scan := func(row *sqlx.Row) error {
			return row.Scan(&r.User, &r.Path, &r.Timeout, &r.Plan, &r.JIT, &r.Name, &r.Locks, &r.Version, &r.Created, &r.Data, &r.Active)
		}
		before := db.RoundTrips()
		var err error
		one := func(ctx context.Context, qr sqlx.QueryerContext) error { return scan(qr.QueryRowxContext(ctx, q, id)) }
		switch how {
		case "lookup":
			err = db.InTenantLookup(ctx, tn.Scope(), one)
		case "search":
			err = db.InTenantSearch(ctx, tn.Scope(), one)
		default:
			scope := tn.Scope()
			scope.LookupsOnly = true
			err = db.InTenant(ctx, scope, func(tx *sqlx.Tx) error { return scan(tx.QueryRowxContext(store.Lookup(ctx), q, id)) })
		}
		if err != nil {
			t.Fatal(err)
		}
		if trips := db.RoundTrips() - before; how != "" && !pgbouncer && trips != 1 {
			t.Errorf("a transaction of one %s took %d round trips, want 1", how, trips)
		}
		return r
	}
	for _, tn := range ts {
		want := read(tn, "")
		for how, plan := range map[string]string{"lookup": "force_generic_plan", "search": "auto"} {
			got := read(tn, how)
			if got.User != db.RoleName(tn.ID) || got.Path != want.Path || want.Path != "tenant_"+tn.ID || got.Timeout != "7s" ||
				got.Plan != plan || got.JIT != "off" || got.Name != "user of "+tn.ID || got.Locks != 1 {
				t.Errorf("tenant %s: the one-trip %s ran with %+v", tn.ID, how, got)
			}
			if !got.Created.Equal(want.Created) || string(got.Data) != string(want.Data) || got.Version != want.Version || got.Active != want.Active {
				t.Errorf("tenant %s: one trip read %+v, an ordinary transaction %+v", tn.ID, got, want)
			}
		}
	}
	read(ts[0], "lookup") // the last on the connection
	var path, user, timeout, plan string
	var inTx bool
	var locks int
	if err := db.QueryRowxContext(ctx, `SELECT current_setting('search_path'), current_user, current_setting('statement_timeout'),
		current_setting('plan_cache_mode'), now() <> statement_timestamp(),
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())`).Scan(&path, &user, &timeout, &plan, &inTx, &locks); err != nil {
		t.Fatal(err)
	}
	if path != `"$user", public` || user == db.RoleName(ts[0].ID) || timeout == "7s" || plan == "force_generic_plan" || inTx || locks != 0 {
		t.Fatalf("after a one-trip lookup the connection has search_path %q, user %s, statement_timeout %s, plan_cache_mode %s, in a transaction: %v, advisory locks: %d",
			path, user, timeout, plan, inTx, locks)
	}
	// The settings are one statement prepared once on the connection,
	// whatever the tenant, and another without the plan mode for searches:
	// nothing of them is parsed per request.
	var setups int
	if err := db.GetContext(ctx, &setups, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%set_config%'`); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{false: 2, true: 0}[pgbouncer]; setups != want {
		t.Errorf("%d statements of settings prepared, want %d", setups, want)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, `SELECT name FROM pg_prepared_statements WHERE statement = $1 AND name LIKE 'bk\_%'`, q); err != nil {
		t.Fatal(err)
	}
	want := 2 // one per tenant, none for the searches
	if pgbouncer {
		want = 0
	}
	if len(names) != want {
		t.Fatalf("statements prepared for the lookup: %q, want %d named bk_…", names, want)
	}
}

// TestOneLookupFailures: in a transaction of one lookup, settings that
// fail (a strict tenant whose role is gone) fail the lookup, which never
// runs without them; a failing lookup returns PostgreSQL's error; a second
// statement is refused with ErrOneLookup and anything but a lookup with
// ErrNotLookup. After each the connection serves the next transaction.
func TestOneLookupFailures(t *testing.T) {
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	ts := createTenants(t, tenant.NewService(db0), 2, true)
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 1, Lanes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	role := db.RoleName(ts[1].ID)
	if _, err := db.ExecContext(ctx, `DROP OWNED BY "`+role+`"; DROP ROLE "`+role+`"`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		tenant *tenant.Tenant
		run    func(ctx context.Context, q sqlx.QueryerContext) error
		check  func(err error) bool
	}{
		{"ErrSettings", ts[1], func(ctx context.Context, q sqlx.QueryerContext) error {
			var user string
			err := sqlx.GetContext(ctx, q, &user, `SELECT current_user`)
			if err == nil {
				return errors.New("the lookup ran as " + user)
			}
			return err
		}, func(err error) bool {
			var pqErr *pq.Error
			return errors.As(err, &pqErr) && pqErr.Code == "22023" // role does not exist
		}},
		{"ErrLookup", ts[0], func(ctx context.Context, q sqlx.QueryerContext) error {
			var n int
			return sqlx.GetContext(ctx, q, &n, `SELECT 1 / $1::int`, 0)
		}, func(err error) bool {
			var pqErr *pq.Error
			return errors.As(err, &pqErr) && pqErr.Code == "22012" // division by zero
		}},
		{"ErrOneLookup", ts[0], func(ctx context.Context, q sqlx.QueryerContext) error {
			var n int
			if err := sqlx.GetContext(ctx, q, &n, `SELECT $1::int`, 1); err != nil {
				return err
			}
			return sqlx.GetContext(ctx, q, &n, `SELECT $1::int`, 2)
		}, func(err error) bool {
			return os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" || errors.Is(err, pool.ErrOneLookup)
		}},
		{"ErrNotLookup", ts[0], func(_ context.Context, q sqlx.QueryerContext) error {
			var n int
			return sqlx.GetContext(ctx, q, &n, `SELECT $1::int`, 1) // a context not marked as a lookup's
		}, func(err error) bool { return errors.Is(err, pool.ErrNotLookup) }},
		{"NoRows", ts[0], func(ctx context.Context, q sqlx.QueryerContext) error {
			return lookUpUnknown(ctx, q)
		}, func(err error) bool { return err == nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTenantLookup(ctx, tt.tenant.Scope(), tt.run)
			if !tt.check(err) {
				t.Fatalf("got %v", err)
			}
			var user, path string
			var inTx bool
			if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
				return tx.QueryRowContext(ctx, `SELECT current_user, current_setting('search_path'), false`).Scan(&user, &path, &inTx)
			}); err != nil {
				t.Fatalf("the next transaction: %v", err)
			}
			if err := db.QueryRowxContext(ctx, `SELECT now() <> statement_timestamp()`).Scan(&inTx); err != nil || inTx {
				t.Fatalf("the connection is left in a transaction (%v)", err)
			}
			if user != db.RoleName(ts[0].ID) || path != "tenant_"+ts[0].ID {
				t.Fatalf("the next transaction ran as %s in %s", user, path)
			}
		})
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT 1`); err != nil || n != 1 {
		t.Fatal(err)
	}
}

// TestFinalStatement: a statement marked store.Final travels with its
// transaction's COMMIT: what it writes is committed, it runs with the
// tenant's settings and role, and a transaction of BEGIN and it costs two
// round trips (three behind a transaction pooler, where COMMIT goes on its
// own). When it fails nothing is left, the error is PostgreSQL's; a
// statement after it is refused with ErrAfterFinal. After each the
// connection serves the next transaction, outside any transaction.
func TestFinalStatement(t *testing.T) {
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	tn := createTenants(t, tenant.NewService(db0), 1, true)[0]
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 1, Lanes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wantTrips := int64(2)
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		wantTrips = 3
	}
	const insert = `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{}') RETURNING current_user, current_setting('search_path')`
	id := uuid.NewString()
	for _, tt := range []struct {
		name  string
		run   func(tx *sqlx.Tx) error
		check func(t *testing.T, err error)
	}{
		{"OK", func(tx *sqlx.Tx) error {
			var user, path string
			if err := tx.QueryRowxContext(store.Final(ctx), insert, id, "ada").Scan(&user, &path); err != nil {
				return err
			}
			if user != db.RoleName(tn.ID) || path != "tenant_"+tn.ID {
				t.Errorf("the final statement ran as %s in %s", user, path)
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"ErrConflict", func(tx *sqlx.Tx) error {
			return tx.QueryRowxContext(store.Final(ctx), insert, uuid.NewString(), "ADA").Err()
		}, func(t *testing.T, err error) {
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
				t.Fatalf("got %v, want a unique violation", err)
			}
		}},
		{"ErrAfterFinal", func(tx *sqlx.Tx) error {
			if _, err := tx.QueryxContext(store.Final(ctx), `SELECT 1`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `SELECT 2`)
			return err
		}, func(t *testing.T, err error) {
			if !errors.Is(err, pool.ErrAfterFinal) && os.Getenv("BULKHEAD_TEST_PGBOUNCER") == "" {
				t.Fatalf("got %v, want ErrAfterFinal", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := db.RoundTrips()
			err := db.InTenant(ctx, tn.Scope(), tt.run)
			trips := db.RoundTrips() - before
			tt.check(t, err)
			if tt.name != "ErrAfterFinal" && trips != wantTrips {
				t.Errorf("%d round trips, want %d", trips, wantTrips)
			}
			var n int
			var inTx bool
			if err := db.QueryRowxContext(ctx, `SELECT (SELECT count(*) FROM `+pq.QuoteIdentifier("tenant_"+tn.ID)+`.users), now() <> statement_timestamp()`).Scan(&n, &inTx); err != nil {
				t.Fatal(err)
			}
			if n != 1 || inTx {
				t.Errorf("after it: %d users, want 1; in a transaction: %v", n, inTx)
			}
		})
	}
}

// TestBeforeStatement: SQL marked store.Before a statement runs before it
// in the transaction, in the same round trip off a transaction pooler,
// once however many statements follow; a failing one fails the statement
// and leaves nothing.
func TestBeforeStatement(t *testing.T) {
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	tn := createTenants(t, tenant.NewService(db0), 1, false)[0]
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 1, Lanes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wantTrips := int64(5) // BEGIN, the savepoint with the insert, the rollback to it, the count, COMMIT
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		wantTrips = 6 // the savepoint on its own
	}
	var n int
	before := db.RoundTrips()
	if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		p := &store.Pending{SQL: `SAVEPOINT s`}
		sctx := store.Before(ctx, p)
		var one int
		if err := tx.QueryRowxContext(sctx, `INSERT INTO users (id, user_name, data) VALUES ($1, 'ada', '{}') RETURNING 1`, uuid.NewString()).Scan(&one); err != nil {
			return err
		}
		if !p.Sent {
			t.Error("the savepoint is not marked sent")
		}
		if _, err := tx.ExecContext(sctx, `ROLLBACK TO SAVEPOINT s`); err != nil { // the savepoint is not sent again
			return err
		}
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM users`)
	}); err != nil {
		t.Fatal(err)
	}
	if trips := db.RoundTrips() - before; n != 0 || trips != wantTrips {
		t.Errorf("%d users after the rollback to the savepoint set before the insert, want 0; %d round trips, want %d", n, trips, wantTrips)
	}
	err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		var one int
		return tx.QueryRowxContext(store.Before(ctx, &store.Pending{SQL: `SELECT 1/0`}), `INSERT INTO users (id, user_name, data) VALUES ($1, 'bob', '{}') RETURNING 1`, uuid.NewString()).Scan(&one)
	})
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || (pqErr.Code != "22012" && pqErr.Code != "25P02") {
		t.Fatalf("after a failing SQL before it, the statement returned %v", err)
	}
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM `+pq.QuoteIdentifier("tenant_"+tn.ID)+`.users`); err != nil || n != 0 {
		t.Fatalf("%d users, %v: want none", n, err)
	}
}

// TestOneLookupTimeoutBoundsTheLock: the statement timeout of a
// transaction of one lookup bounds its wait for the tenant lock, which a
// tenant being dropped holds: PostgreSQL stops the wait, rather than only
// the client giving up and the backend waiting on until the drop ends.
func TestOneLookupTimeoutBoundsTheLock(t *testing.T) {
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	tn := createTenants(t, tenant.NewService(db0), 1, true)[0]
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 2, Lanes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	scope := tn.Scope()
	var class, obj int64 // the lock's two keys, as pg_locks shows them (oid)
	if err := db.InTenantLookup(ctx, scope, func(ctx context.Context, q sqlx.QueryerContext) error {
		return q.QueryRowxContext(ctx, `SELECT classid::int8, objid::int8 FROM pg_locks
			WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = $1`, 2).Scan(&class, &obj)
	}); err != nil {
		t.Fatal(err)
	}
	// The tenant lock held exclusively elsewhere, in a transaction, as
	// DropTenantSchema holds it.
	holder, err := sqlx.Connect("postgres", db0.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })
	hold, err := holder.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hold.Rollback() })
	if _, err := hold.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, class, int32(uint32(obj))); err != nil {
		t.Fatal(err)
	}
	scope.Timeout = 300 * time.Millisecond
	err = db.InTenantLookup(ctx, scope, func(ctx context.Context, q sqlx.QueryerContext) error {
		var n int
		return sqlx.GetContext(ctx, q, &n, `SELECT $1::int`, 1)
	})
	if err == nil {
		t.Fatal("the lookup ran while the tenant lock was held exclusively")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var waiting int
		if err := holder.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND classid = $1::int8::oid AND objid = $2::int8::oid`, class, obj); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends still wait for the tenant lock 3 s after the lookup's timeout of %v", waiting, scope.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFinalStatementPrepared: off a transaction pooler, a statement marked
// store.Final is prepared once per connection and tenant schema and then
// run again by name, conflicts included (a create on a connection does
// not pay for parsing and planning it anew), and a connection keeps at
// most 16 of them however many texts it is given. Behind a transaction
// pooler nothing is prepared.
func TestFinalStatementPrepared(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	pooler := os.Getenv("BULKHEAD_TEST_PGBOUNCER") != ""
	const insert = `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{}') RETURNING version`
	final := func(tn *tenant.Tenant, q string, args ...any) error {
		return db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			rows, err := tx.QueryxContext(store.Final(ctx), q, args...)
			if err != nil {
				return err
			}
			return rows.Close()
		})
	}
	t.Run("OK", func(t *testing.T) {
		for k, tn := range ts {
			for i := range 3 + k {
				if err := final(tn, insert, uuid.NewString(), fmt.Sprint("user", i)); err != nil {
					t.Fatal(err)
				}
			}
			var pqErr *pq.Error
			if err := final(tn, insert, uuid.NewString(), "user0"); !errors.As(err, &pqErr) || pqErr.Code != "23505" {
				t.Fatalf("got %v, want a unique violation", err)
			}
		}
		want := []int{4, 5} // one statement per tenant, each run by every create in it
		if pooler {
			want = nil
		}
		if got := preparedRuns(t, db, insert); !slices.Equal(got, want) {
			t.Errorf("the final statement prepared, with its runs: %v, want %v", got, want)
		}
	})
	t.Run("ErrConflictFirst", func(t *testing.T) {
		// A statement whose first run fails is prepared all the same, once.
		const q = `INSERT INTO users (id, user_name, data) VALUES ($1, 'user0', '{}')`
		for range 3 {
			var pqErr *pq.Error
			if err := final(ts[0], q, uuid.NewString()); !errors.As(err, &pqErr) || pqErr.Code != "23505" {
				t.Fatalf("got %v, want a unique violation", err)
			}
		}
		want := []int{3}
		if pooler {
			want = nil
		}
		if got := preparedRuns(t, db, q); !slices.Equal(got, want) {
			t.Errorf("the failing statement prepared, with its runs: %v, want %v", got, want)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		for i := range 100 {
			if err := final(ts[1], fmt.Sprintf("SELECT $1::int + %d", i), 1); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + %'`); err != nil {
			t.Fatal(err)
		}
		if want := 16; n > want || (!pooler && n < want) {
			t.Errorf("%d final statements prepared on the connection, want %d", n, want)
		}
	})
}

// preparedRuns returns how often each statement of text q prepared on
// db's connection ran, one entry per statement.
func preparedRuns(t *testing.T, db *store.DB, q string) (runs []int) {
	t.Helper()
	if err := db.SelectContext(context.Background(), &runs, `SELECT generic_plans + custom_plans FROM pg_prepared_statements
		WHERE statement = $1 ORDER BY 1`, q); err != nil {
		t.Fatal(err)
	}
	return runs
}

// TestSearchesKept: off a transaction pooler, a search
// (store.InTenantSearch) is prepared once per connection and tenant schema
// and then run again by name, also when it failed; a connection keeps at
// most 16 searches and final statements together, however many texts it
// is given. Behind a transaction pooler nothing is prepared.
func TestSearchesKept(t *testing.T) {
	ctx := context.Background()
	db, _, ts := oneConnPool(t)
	pooler := os.Getenv("BULKHEAD_TEST_PGBOUNCER") != ""
	search := func(q string, arg int) error {
		return db.InTenantSearch(ctx, ts[0].Scope(), func(ctx context.Context, qr sqlx.QueryerContext) error {
			var n int
			return sqlx.GetContext(ctx, qr, &n, q, arg)
		})
	}
	want := func(n ...int) []int {
		if pooler {
			return nil
		}
		return n
	}
	const count = `SELECT count(*) FROM users WHERE user_name <> $1::text`
	for i := range 7 {
		if err := search(count, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := preparedRuns(t, db, count); !slices.Equal(got, want(7)) {
		t.Errorf("the search prepared, with its runs: %v, want %v", got, want(7))
	}
	const fails = `SELECT 1 / count(*)::int FROM users WHERE user_name = $1::text` // no such user
	for range 3 {
		var pqErr *pq.Error
		if err := search(fails, 0); !errors.As(err, &pqErr) || pqErr.Code != "22012" {
			t.Fatalf("got %v, want a division by zero", err)
		}
	}
	if got := preparedRuns(t, db, fails); !slices.Equal(got, want(3)) {
		t.Errorf("the failing search prepared, with its runs: %v, want %v", got, want(3))
	}
	for i := range 50 {
		if err := search(fmt.Sprintf("SELECT $1::int + %d", i), 1); err != nil {
			t.Fatal(err)
		}
		if err := db.InTenant(ctx, ts[0].Scope(), func(tx *sqlx.Tx) error {
			rows, err := tx.QueryContext(store.Final(ctx), fmt.Sprintf("SELECT $1::int - %d", i), 1)
			if err != nil {
				return err
			}
			return rows.Close()
		}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM pg_prepared_statements WHERE statement ~ '^SELECT (count|1 / |\$1::int)'`); err != nil {
		t.Fatal(err)
	}
	if want := 16; n > want || (!pooler && n < want) {
		t.Errorf("%d searches and final statements prepared on the connection, want %d", n, want)
	}
	// The newest of each kind, in turns.
	var finals int
	if err := db.GetContext(ctx, &finals, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int - %'`); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{false: 8, true: 0}[pooler]; finals != want {
		t.Errorf("%d final statements among them, want %d", finals, want)
	}
}

// TestOneLookupCancelled: a transaction of one lookup runs its statement
// under a context that cannot end (pool.One, so that database/sql starts
// no goroutine for it), yet the caller's context still bounds it: cancelled
// mid-statement, the lookup returns at once with the context's error, and
// the pool serves the next transaction.
func TestOneLookupCancelled(t *testing.T) {
	db, _, ts := oneConnPool(t)
	scope := ts[0].Scope()
	scope.Timeout = -1 // no deadline: only the cancellation can stop it
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := db.InTenantLookup(ctx, scope, func(ctx context.Context, q sqlx.QueryerContext) error {
		var n int
		return sqlx.GetContext(ctx, q, &n, `SELECT 1 FROM pg_sleep($1::float8)`, 10)
	})
	// Off a pooler the trip reports the context's error; behind one lib/pq
	// runs the lookup and reports PostgreSQL's for the cancel it sent.
	var pqErr *pq.Error
	if !errors.Is(err, context.Canceled) && !(errors.As(err, &pqErr) && pqErr.Code == "57014") {
		t.Fatalf("a cancelled lookup returned %v, want context.Canceled or query_canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a lookup cancelled after 200 ms returned after %v", took)
	}
	if err := db.InTenantLookup(context.Background(), ts[0].Scope(), func(ctx context.Context, q sqlx.QueryerContext) error {
		return lookUpUnknown(ctx, q)
	}); err != nil {
		t.Fatalf("the next lookup: %v", err)
	}
}
