package pool_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestTenantShare: a tenant holding its whole share of connections waits,
// then is refused with ETOOMANY, while another tenant still runs as many
// transactions at once as its own share allows; a place given back lets
// a waiting transaction of the same tenant in.
func TestTenantShare(t *testing.T) {
	db0 := storetest.NewDB(t)
	ts := createTenants(t, tenant.NewService(db0), 2, false)
	noisy, quiet := ts[0].Scope(), ts[1].Scope()
	db, err := store.Open(context.Background(), db0.DSN, store.Options{MaxOpenConns: 8, TenantConns: 2, TenantWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()

	// hold runs a transaction of s that stays open until end is called.
	hold := func(s store.Scope) (end func()) {
		started, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.InTenant(ctx, s, func(tx *sqlx.Tx) error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		return sync.OnceFunc(func() {
			close(release)
			if err := <-done; err != nil {
				t.Errorf("held transaction: %v", err)
			}
		})
	}
	endFirst, endSecond := hold(noisy), hold(noisy)
	defer endSecond()
	defer endFirst()

	err = db.InTenant(ctx, noisy, func(tx *sqlx.Tx) error { return nil })
	if app.ErrorCode(err) != app.ETOOMANY {
		t.Fatalf("third transaction of a tenant holding its share: %v, want ETOOMANY", err)
	}

	// The other tenant's share is its own: two at once, both run.
	quietRelease := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- db.InTenant(ctx, quiet, func(tx *sqlx.Tx) error {
				<-quietRelease
				_, err := tx.ExecContext(ctx, `SELECT 1`)
				return err
			})
		}()
	}
	close(quietRelease)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("the other tenant: %v", err)
		}
	}

	// A waiter gets the place the first transaction gives back.
	waited := make(chan error, 1)
	go func() { waited <- db.InTenant(ctx, noisy, func(tx *sqlx.Tx) error { return nil }) }()
	time.Sleep(50 * time.Millisecond)
	endFirst()
	if err := <-waited; err != nil {
		t.Fatalf("waiting transaction after a place was given back: %v", err)
	}
}

// TestTransactionDeadline: Scope.Timeout bounds a transaction as a whole,
// not only each statement, even when the code inside it runs its
// statements without a deadline of their own: the statement running at
// the deadline is cancelled on the server.
func TestTransactionDeadline(t *testing.T) {
	db := storetest.NewDB(t)
	tn := createTenants(t, tenant.NewService(db), 1, false)[0]
	scope := tn.Scope()
	scope.Timeout = time.Second
	var done int
	err := db.InTenant(context.Background(), scope, func(tx *sqlx.Tx) error {
		for range 3 {
			// Each sleep is within the statement timeout; two are not
			// within the transaction's.
			if _, err := tx.ExecContext(context.Background(), `SELECT pg_sleep(0.7) /* deadline test */`); err != nil {
				return err
			}
			done++
		}
		return nil
	})
	if app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
	if done > 1 {
		// One fits before the deadline (none on a loaded machine); the
		// one running at it must be cancelled, not left to finish.
		t.Fatalf("%d statements completed: the one running at the deadline must be cancelled", done)
	}
	var running int
	if err := db.GetContext(context.Background(), &running,
		`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%deadline test%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Fatalf("%d statements still run after the transaction ended", running)
	}
	var ae *app.Error
	if !errors.As(err, &ae) || ae.Message == "" {
		t.Fatalf("no message for the client: %v", err)
	}
}
