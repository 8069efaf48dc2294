package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/scim/scimtest"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// BenchmarkLargeTenant measures SCIM requests over real HTTP against a
// tenant of 100,000 users (make bench, which runs it once) and prints the
// median and p99 latency of each as a table, then the query plans of the
// filtered lists.
func BenchmarkLargeTenant(b *testing.B) {
	setupBench(b)
	c := benchClient
	var sample string
	r := c.do("GET", "/Users?count=1&startIndex=54321&attributes=id", nil)
	if rs := r.resources(); len(rs) == 1 {
		sample = rs[0]["id"].(string)
	}
	queries := []struct{ name, path, filter string }{
		{"GET /Users/{id}", "/Users/" + sample, ""},
		{`userName eq`, "/Users?filter=" + q(`userName eq "user054321"`), `userName eq "user054321"`},
		{`emails[type eq "work" and value co …]`, "/Users?filter=" + q(`emails[type eq "work" and value co "user5432@"]`), `emails[type eq "work" and value co "user5432@"]`},
		{"first page of 100, sorted by userName", "/Users?sortBy=userName&count=100", ""},
		{"page of 100 at startIndex 50001, sorted", "/Users?sortBy=userName&startIndex=50001&count=100", ""},
		{"userName sw, sorted, 100", "/Users?sortBy=userName&count=100&filter=" + q(`userName sw "user05"`), `userName sw "user05"`},
		{"externalId eq", "/Users?filter=" + q(`externalId eq "ext-777"`), `externalId eq "ext-777"`},
	}
	const requests = 200
	fmt.Fprintf(os.Stdout, "\nSCIM over HTTP, tenant of 100,000 users, %d sequential requests each:\n\n| request | median | p99 |\n|---|---:|---:|\n", requests)
	for _, qq := range queries {
		durs := make([]time.Duration, 0, requests)
		for i := 0; i < requests; i++ {
			start := time.Now()
			r := c.do("GET", qq.path, nil)
			durs = append(durs, time.Since(start))
			if r.Status != http.StatusOK {
				b.Fatalf("%s: %d %s", qq.path, r.Status, r.Raw)
			}
		}
		slices.Sort(durs)
		med, p99 := durs[len(durs)/2], durs[len(durs)*99/100]
		fmt.Fprintf(os.Stdout, "| %s | %.2f ms | %.2f ms |\n", qq.name, ms(med), ms(p99))
	}
	for _, qq := range queries {
		if qq.filter == "" {
			continue
		}
		where, args, err := scim.UserResource.CompileFilter(qq.filter, 0)
		if err != nil {
			b.Fatal(err)
		}
		var plan []string
		ctx := context.Background()
		err = env.db.InTenant(ctx, benchScope, func(tx *sqlx.Tx) error {
			return tx.SelectContext(ctx, &plan, `EXPLAIN ANALYZE SELECT id FROM users WHERE `+where, args...)
		})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "\nEXPLAIN ANALYZE for %s:\n  %s\n", qq.filter, strings.Join(plan, "\n  "))
	}
}

var (
	benchClient *client
	benchScope  store.Scope
)

func setupBench(b *testing.B) {
	if benchClient != nil {
		return
	}
	setup(b)
	nt := tenant.NewTenant{ID: "bench", Plan: tenant.PlanEnterprise}
	tn, tok, err := env.tenants.CreateTenant(context.Background(), nt, "bench")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := scimtest.SeedUsers(context.Background(), env.db, tn.Scope(), 100000); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 100,000 users in %s", time.Since(start).Round(time.Millisecond))
	benchScope = tn.Scope()
	benchClient = &client{t: b, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
