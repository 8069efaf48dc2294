package web_test

import (
	"context"
	"fmt"
	"math"
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
		med, p99 := percentile(durs, 50), percentile(durs, 99)
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

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest rank: the smallest sample at least p% of the samples do not
// exceed. The 99th of 100 samples is the second slowest, not the slowest.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// BenchmarkPatchAndBulk measures, on the 100,000-user tenant: PATCH adding
// (and then removing) one member of a group of 100,000 members against a
// group of 10, and Bulk requests of 1,000 user creations.
func BenchmarkPatchAndBulk(b *testing.B) {
	setupBench(b)
	c := benchClient
	ctx := context.Background()
	big := c.createGroup("Everyone")
	small := c.createGroup("Ten")
	err := env.db.InTenant(ctx, benchScope, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, member_id, member_type) SELECT $1, id, 'User' FROM users`, big); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, member_id, member_type) SELECT $1, id, 'User' FROM users LIMIT 10`, small)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	extra := c.createUser("not-yet-a-member")
	const requests = 200
	fmt.Fprintf(os.Stdout, "\nPATCH one member in and out of a group, %d sequential requests each:\n\n| group size | median | p99 |\n|---|---:|---:|\n", requests)
	for _, g := range []struct {
		name, id string
	}{{"10 members", small}, {"100,000 members", big}} {
		durs := make([]time.Duration, 0, requests)
		for i := 0; i < requests; i++ {
			op := map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": extra}}}
			if i%2 == 1 {
				op = map[string]any{"op": "remove", "path": `members[value eq "` + extra + `"]`}
			}
			start := time.Now()
			r := c.do("PATCH", "/Groups/"+g.id, patchBody(op))
			durs = append(durs, time.Since(start))
			if r.Status != http.StatusNoContent {
				b.Fatalf("PATCH: %d %s", r.Status, r.Raw)
			}
		}
		slices.Sort(durs)
		fmt.Fprintf(os.Stdout, "| %s | %.2f ms | %.2f ms |\n", g.name, ms(percentile(durs, 50)), ms(percentile(durs, 99)))
	}

	const rounds, perRequest = 5, 1000
	durs := make([]time.Duration, 0, rounds)
	for round := 0; round < rounds; round++ {
		ops := make([]map[string]any, perRequest)
		for i := range ops {
			ops[i] = map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i),
				"data": user(fmt.Sprintf("bulk-%d-%04d@example.com", round, i), "name", map[string]any{"givenName": "Bulk", "familyName": fmt.Sprint(i)},
					"emails", []any{map[string]any{"value": fmt.Sprintf("bulk-%d-%04d@example.com", round, i), "type": "work", "primary": true}})}
		}
		start := time.Now()
		r := c.do("POST", "/Bulk", bulkBody(0, ops...))
		durs = append(durs, time.Since(start))
		if r.Status != http.StatusOK || strings.Count(string(r.Raw), `"status":"201"`) != perRequest {
			b.Fatalf("bulk: %d %.300s", r.Status, r.Raw)
		}
	}
	slices.Sort(durs)
	med := durs[len(durs)/2]
	fmt.Fprintf(os.Stdout, "\nBulk of %d user creations, %d requests:\n\n| median | slowest | users per second (median) |\n|---:|---:|---:|\n| %.0f ms | %.0f ms | %.0f |\n",
		perRequest, rounds, ms(med), ms(durs[len(durs)-1]), perRequest/med.Seconds())
}

// BenchmarkExpensiveFilter measures, over real HTTP on a tenant of 5,000
// users, the most expensive filters a client may send: a 4,096-character
// chain of value filters on one attribute (issue #20's denial of service),
// and chains that stop at each of the filter cost limits. It prints the
// answer and the median time of each as a table.
func BenchmarkExpensiveFilter(b *testing.B) {
	c := newTenant(b)
	ctx := context.Background()
	scope := store.Scope{TenantID: c.tenant}
	if err := scimtest.SeedUsers(ctx, env.db, scope, 5000); err != nil {
		b.Fatal(err)
	}
	// chain joins format (given the term's number) with sep for n terms,
	// or as many as fit in MaxFilterLength when n is 0.
	chain := func(format, sep string, n int) string {
		var s string
		for i := 0; n == 0 || i < n; i++ {
			next := s
			if i > 0 {
				next += sep
			}
			next += fmt.Sprintf(format, i)
			if len(next) > scim.MaxFilterLength {
				break
			}
			s = next
		}
		return s
	}
	filters := []struct{ name, filter string }{
		{"emails[value co \"0\"] or emails[value co \"1\"] or …, 4,072 characters", chain(`emails[value co "%d"]`, " or ", 0)},
		{"emails[value co \"000\"] or … (indexed), the term limit", chain(`emails[value co "%03d"]`, " or ", scim.MaxFilterTerms)},
		{"ims[value co \"0\"] or … (jsonb), the scan limit", chain(`ims[value co "%d"]`, " or ", scim.MaxFilterScans)},
		{"not (emails[value co \"0\"]) or …, the subquery and scan limits", chain(`not (emails[value co "%d"])`, " or ", scim.MaxFilterSubqueries)},
		{"title co \"0\" or …, the scan limit", chain(`title co "%d"`, " or ", scim.MaxFilterScans)},
	}
	const requests = 3
	fmt.Fprintf(os.Stdout, "\nExpensive filters over HTTP, tenant of 5,000 users, GET /Users?count=100, %d sequential requests each:\n\n| filter | characters | status | median |\n|---|---:|---:|---:|\n", requests)
	for _, f := range filters {
		durs := make([]time.Duration, 0, requests)
		var status int
		for i := 0; i < requests; i++ {
			start := time.Now()
			r := c.do("GET", "/Users?count=100&filter="+q(f.filter), nil)
			durs = append(durs, time.Since(start))
			status = r.Status
		}
		slices.Sort(durs)
		fmt.Fprintf(os.Stdout, "| %s | %d | %d | %.0f ms |\n", f.name, len(f.filter), status, ms(percentile(durs, 50)))
	}
}
