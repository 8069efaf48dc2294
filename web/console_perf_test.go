package web_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestConsolePagesWith1000Tenants checks that every console page renders
// with 1,000 tenants; BenchmarkConsolePages times them (make bench), since
// timings belong in benchmarks, not in tests on a shared machine.
func TestConsolePagesWith1000Tenants(t *testing.T) {
	t.Parallel()
	consolePages(t, 1, nil)
}

// BenchmarkConsolePages prints, as a table, the median and slowest render
// time of every console page with 1,000 tenants; the target is under 100 ms.
func BenchmarkConsolePages(b *testing.B) {
	fmt.Printf("\nConsole pages with 1,000 tenants, 15 requests each:\n\n| page | median | slowest |\n|---|---:|---:|\n")
	consolePages(b, 15, func(path string, median, slowest time.Duration) {
		fmt.Printf("| %s | %.1f ms | %.1f ms |\n", path, float64(median.Microseconds())/1000, float64(slowest.Microseconds())/1000)
	})
}

// consolePages fills a database with 1,000 tenants and gets every console
// page rounds times, reporting each page's median and slowest time. The
// first page's 25 tenants are real (schemas, users); the other 975 are
// control rows only, which is all the list, the search and the health view
// read for tenants off the page.
func consolePages(t testing.TB, rounds int, report func(path string, median, slowest time.Duration)) {
	db := storetest.NewDB(t)
	cs := newConsoleServer(t, db, nil, nil)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 25)
	sem := make(chan struct{}, 4)
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, _, err := cs.tenants.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("a%02d", i), Name: fmt.Sprintf("Real %d", i), Plan: tenant.PlanStartup}, "test")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	latest := store.LatestVersion(cs.tenants.Migrations)
	const fill = `
		WITH t AS (
			INSERT INTO control.tenants (id, name, plan, status, schema_version)
			SELECT 'z' || lpad(g::text, 4, '0'), 'Filler ' || g, (ARRAY['enterprise', 'startup', 'trial'])[1 + g % 3],
				CASE WHEN g % 10 = 0 THEN 'suspended' ELSE 'active' END, $1
			FROM generate_series(1, 975) g RETURNING id)
		INSERT INTO control.tenant_permissions (tenant_id, max_users, max_groups, requests_per_minute, burst)
		SELECT id, 1000, 100, 600, 100 FROM t`
	if _, err := db.ExecContext(ctx, fill, latest); err != nil {
		t.Fatal(err)
	}
	b := cs.browser(t)
	b.signIn(cs.newStaff(t, staff.RoleAdmin))

	for _, path := range []string{
		"/admin/tenants",
		"/admin/tenants?q=a1",
		"/admin/tenants?status=suspended&plan=trial",
		"/admin/tenants?offset=500",
		"/admin/tenants/a00",
		"/admin/tenants/a00/usage",
		"/admin/health",
		"/admin/audit",
		"/admin/account",
		"/admin/tenants/new",
	} {
		var took []time.Duration
		for i := 0; i < rounds; i++ {
			start := time.Now()
			b.get(path).must(t, http.StatusOK)
			took = append(took, time.Since(start))
		}
		if report != nil {
			slices.Sort(took)
			report(path, took[len(took)/2], took[len(took)-1])
		}
	}
}
