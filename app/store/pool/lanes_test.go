package pool_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// openPool opens a pool of its own on the test database with opts, and
// creates n tenants through another. Tests that tell backends apart skip
// behind PgBouncer, where a client connection is not a backend.
func openPool(t *testing.T, n int, opts store.Options) (*store.DB, []*tenant.Tenant) {
	t.Helper()
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		t.Skip("behind PgBouncer a client connection is not a backend (and lanes are off)")
	}
	db0 := storetest.NewDB(t)
	ts := createTenants(t, tenant.NewService(db0), n, false)
	db, err := store.Open(context.Background(), db0.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, ts
}

// backendOf runs a transaction in the tenant's schema and returns its
// backend's pid.
func backendOf(t *testing.T, db *store.DB, tn *tenant.Tenant) int {
	t.Helper()
	pid, err := inTenantPID(db, tn)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// inTenantPID is backendOf for goroutines other than the test's.
func inTenantPID(db *store.DB, tn *tenant.Tenant) (pid int, err error) {
	ctx := context.Background()
	err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &pid, `SELECT pg_backend_pid()`) })
	return pid, err
}

// holdLane starts a transaction of tn that holds its lane until the
// returned function is called; that function waits for the transaction to
// end. It returns the backend's pid.
func holdLane(t *testing.T, db *store.DB, tn *tenant.Tenant) (pid int, end func()) {
	t.Helper()
	ctx := context.Background()
	started, release, done := make(chan int), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			var pid int
			if err := tx.GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
				return err
			}
			started <- pid
			<-release
			return nil
		})
	}()
	var once sync.Once
	end = func() {
		once.Do(func() {
			close(release)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(end) // the pool cannot close while the transaction runs
	select {
	case pid = <-started:
	case err := <-done:
		t.Fatal(err)
	}
	return pid, end
}

// TestLanesKeepTenantsOnTheirBackend: every tenant's transactions run on
// one backend, and each backend serves only its share of the tenants,
// whatever order the tenants come in and however many connections the pool
// has open.
func TestLanesKeepTenantsOnTheirBackend(t *testing.T) {
	db, ts := openPool(t, 24, store.Options{MaxOpenConns: 8, Lanes: 4})
	// Busy the pool first, so that it holds more connections than lanes.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Transact(context.Background(), func(tx *sqlx.Tx) error {
				_, err := tx.Exec(`SELECT pg_sleep(0.05)`)
				return err
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	home := map[string]int{}           // tenant → backend
	share := map[int]map[string]bool{} // backend → tenants
	for round := range 5 {
		for i := range ts {
			tn := ts[(i*7+round*5)%len(ts)] // a different order each round
			pid := backendOf(t, db, tn)
			if h, ok := home[tn.ID]; ok && h != pid {
				t.Fatalf("round %d: tenant %s moved from backend %d to %d", round, tn.ID, h, pid)
			}
			home[tn.ID] = pid
			if share[pid] == nil {
				share[pid] = map[string]bool{}
			}
			share[pid][tn.ID] = true
		}
	}
	if len(share) < 2 || len(share) > 4 {
		t.Fatalf("24 tenants ran on %d backends, want 2 to 4 (one per lane)", len(share))
	}
	if st := db.LaneStats(); st.Lanes != 4 || st.Served != 5*24 || st.Fallbacks != 0 {
		t.Fatalf("lane stats %+v, want 4 lanes that served all %d transactions", st, 5*24)
	}
}

// TestBusyLaneFallsBack: a transaction that holds its lane does not hold up
// another tenant's transaction on the same lane for longer than the lane
// wait: that one runs on another connection.
func TestBusyLaneFallsBack(t *testing.T) {
	db, ts := openPool(t, 2, store.Options{MaxOpenConns: 4, Lanes: 1})
	slowPID, end := holdLane(t, db, ts[0])
	done := make(chan int, 1)
	go func() {
		pid, err := inTenantPID(db, ts[1])
		if err != nil {
			t.Error(err)
		}
		done <- pid
	}()
	select {
	case pid := <-done:
		if pid == slowPID {
			t.Fatalf("the second transaction ran on the busy lane's backend %d", pid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a transaction waited for a busy lane instead of taking another connection")
	}
	end()
	if st := db.LaneStats(); st.Fallbacks != 1 || st.Waited != 1 {
		t.Fatalf("lane stats %+v, want one transaction that waited and fell back", st)
	}
	// The lane kept its connection.
	if pid := backendOf(t, db, ts[0]); pid != slowPID {
		t.Fatalf("after the slow transaction the lane moved from backend %d to %d", slowPID, pid)
	}
}

// TestLaneQueues: transactions of other tenants wait for a busy lane, up
// to three at a time, and then run on it in turn, so that they find their
// tenant's catalog warm; a fourth, or another transaction of the tenant
// that holds the lane (an identity provider sending requests in parallel),
// takes a pooled connection at once.
func TestLaneQueues(t *testing.T) {
	db, ts := openPool(t, 6, store.Options{MaxOpenConns: 4, TenantConns: 2, Lanes: 1, LaneWait: time.Minute})
	lanePID, end := holdLane(t, db, ts[0])
	type result struct{ pid, i int }
	results := make(chan result, 3)
	errs := make(chan error, 3)
	for i := 1; i <= 3; i++ {
		go func() {
			pid, err := inTenantPID(db, ts[i])
			if err != nil {
				errs <- err
				return
			}
			results <- result{pid, i}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); db.LaneStats().Waited < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lane stats %+v, want three transactions waiting for the lane", db.LaneStats())
		}
	}
	// The lane is busy for a minute more: these do not wait for it.
	for _, tn := range []*tenant.Tenant{ts[4], ts[0]} {
		if pid := backendOf(t, db, tn); pid == lanePID {
			t.Fatalf("tenant %s ran on the busy lane's backend", tn.ID)
		}
	}
	if st := db.LaneStats(); st.Waited != 3 || st.Fallbacks != 2 {
		t.Fatalf("lane stats %+v, want 3 waiting and 2 fallbacks", st)
	}
	end()
	for range 3 {
		select {
		case r := <-results:
			if r.pid != lanePID {
				t.Errorf("tenant %s waited for the lane and then ran on backend %d, not the lane's %d", ts[r.i].ID, r.pid, lanePID)
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("waiting transactions did not get the lane when it was free")
		}
	}
	if st := db.LaneStats(); st.Fallbacks != 2 {
		t.Fatalf("lane stats %+v, want still 2 fallbacks", st)
	}
}

// TestIdleLanesGiveWay: connections that idle lanes hold go back to the
// pool for whoever needs one, including plain queries that never ask a
// lane, instead of leaving them to wait for the acquire timeout.
func TestIdleLanesGiveWay(t *testing.T) {
	db, ts := openPool(t, 8, store.Options{MaxOpenConns: 2, Lanes: 2, AcquireTimeout: 10 * time.Second})
	ctx := context.Background()
	pids := map[int]bool{}
	for _, tn := range ts {
		pids[backendOf(t, db, tn)] = true
	}
	if len(pids) != 2 {
		t.Fatalf("8 tenants over 2 lanes ran on %d backends", len(pids))
	}
	if st := db.LaneStats(); st.Idle != 2 {
		t.Fatalf("lane stats %+v, want 2 connections idle in lanes", st)
	}
	if err := db.InTenant(ctx, ts[0].Scope(), func(*sqlx.Tx) error {
		if st := db.LaneStats(); st.Idle != 1 {
			t.Errorf("during a transaction: lane stats %+v, want 1 connection idle in lanes", st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Both connections are with the lanes now. A plain query and a
	// control-plane transaction each get one, and hold it.
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := db.QueryContext(qctx, `SELECT 1`)
	if err != nil {
		t.Fatalf("a plain query while lanes held the pool: %v", err)
	}
	defer rows.Close()
	conn, err := db.Hold(ctx)
	if err != nil {
		t.Fatalf("a connection while lanes held the pool: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the lanes gave their connections back after %s", took)
	}
	// The watcher counts a connection it gave back just after handing it
	// over: allow it a moment.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		st := db.LaneStats()
		if st.Returned == 2 && st.Idle == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("lane stats %+v, want 2 connections returned and none idle in lanes", st)
			break
		}
	}
	conn.Close()
	rows.Close()
	// The lanes take connections again.
	if backendOf(t, db, ts[0]) == 0 {
		t.Fatal("no backend")
	}
}

// TestLanesClose: closing the pool closes the lanes' connections too.
func TestLanesClose(t *testing.T) {
	db, ts := openPool(t, 6, store.Options{MaxOpenConns: 4, Lanes: 3})
	var pids []int64
	for _, tn := range ts {
		pids = append(pids, int64(backendOf(t, db, tn)))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	other := storetest.NewDB(t)
	var left int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := other.GetContext(context.Background(), &left, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pq.Array(pids)); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the lanes' backends still open after Close", left)
		}
	}
}

// TestLaneConnLifetime: a lane drops its connection at ConnMaxLifetime,
// as the pool does with its own.
func TestLaneConnLifetime(t *testing.T) {
	db, ts := openPool(t, 1, store.Options{MaxOpenConns: 2, Lanes: 1, ConnMaxLifetime: 300 * time.Millisecond})
	first := backendOf(t, db, ts[0])
	if p := backendOf(t, db, ts[0]); p != first {
		t.Fatalf("a young connection was replaced: %d then %d", first, p)
	}
	time.Sleep(400 * time.Millisecond)
	backendOf(t, db, ts[0]) // the last on the old connection: it is dropped after
	if p := backendOf(t, db, ts[0]); p == first {
		t.Fatalf("backend %d still served its lane past ConnMaxLifetime", p)
	}
}

// TestLaneTakesOnlySpareConnections: a lane without a connection does not
// take one from a full pool, where it would make another lane give its
// connection up for it. Its tenant's transaction runs on a pooled
// connection, which then goes back to the pool.
func TestLaneTakesOnlySpareConnections(t *testing.T) {
	db, ts := openPool(t, 30, store.Options{MaxOpenConns: 3, Lanes: 3, AcquireTimeout: 10 * time.Second})
	ctx := context.Background()
	// Two lanes take a connection each.
	pids := map[int]bool{}
	rest := ts
	for len(pids) < 2 {
		pids[backendOf(t, db, rest[0])] = true
		rest = rest[1:]
	}
	// The third connection goes to someone else: the pool is full.
	conn, err := db.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tn := range rest {
		before := db.LaneStats()
		backendOf(t, db, tn)
		if db.LaneStats().Fallbacks == before.Fallbacks {
			continue // ran on one of the two lanes
		}
		// tn's lane had no connection: it ran on a pooled one, which an idle
		// lane gave up for it, and which is back in the pool now. (The
		// watcher may have given up a second one meanwhile.)
		if st := db.Stats(); st.Idle == 0 {
			t.Fatal("after a transaction of the lane without a connection the pool has no idle connection: the lane kept it")
		}
		return
	}
	t.Fatal("no tenant of the third lane among 28")
}
