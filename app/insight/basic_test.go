package insight_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestHealthPoolLeavesOutIdleLanes: connections that tenant lanes keep
// between transactions are not work the pool is doing, so an idle server
// whose lanes hold most of a small pool reads as idle, not as nearly full.
func TestHealthPoolLeavesOutIdleLanes(t *testing.T) {
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		t.Skip("lanes are off behind a transaction pooler")
	}
	ctx := context.Background()
	db0 := storetest.NewDB(t)
	svc := tenant.NewService(db0)
	var ts []*tenant.Tenant
	for i := range 40 {
		tn, _, err := svc.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("t%02d", i)}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tn)
	}
	db, err := store.Open(ctx, db0.DSN, store.Options{MaxOpenConns: 5, Lanes: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tn := range ts { // 40 tenants reach all 4 lanes
		if err := db.InTenant(ctx, tn.Scope(), func(*sqlx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if st := db.LaneStats(); st.Idle != 4 || db.Stats().InUse != 4 {
		t.Fatalf("after the transactions: lanes %+v, pool %+v; want 4 lane connections idle and counted in use", st, db.Stats())
	}
	r, err := insight.NewBasic(tenant.NewService(db)).Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name != "Connection pool" {
			continue
		}
		if want := "0 of 5 connections in use, 4 more kept by idle tenant lanes, 0 waits so far"; c.Level != health.OK || c.Detail != want {
			t.Fatalf("pool check: %s %q, want %s %q", c.Level, c.Detail, health.OK, want)
		}
		return
	}
	t.Fatalf("no Connection pool check in %+v", r.Checks)
}
