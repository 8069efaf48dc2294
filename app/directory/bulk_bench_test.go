package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// BenchmarkBulkCreate runs Bulk requests of 250 and 1,000 User creations
// (with a name and an email each) in the service, without HTTP: users/s is
// the rate, for profiling the per-operation cost (go test -cpuprofile),
// and the two sizes show whether an operation costs more the more come
// before it in the transaction.
func BenchmarkBulkCreate(b *testing.B) {
	for _, n := range []int{250, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkBulkCreate(b, n) })
	}
}

func benchmarkBulkCreate(b *testing.B, n int) {
	ctx := context.Background()
	db := storetest.NewDB(b)
	tenants := tenant.NewService(db)
	tn, tok, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprint("bulkbench", n), Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		b.Fatal(err)
	}
	p, err := credential.NewService(tenants).Authenticate(ctx, tok.Secret)
	if err != nil {
		b.Fatal(err)
	}
	p.Permissions.MaxUsers = 1 << 30
	c := directory.Caller{Principal: p, RequestID: "req-1", BaseURL: "https://scim.test/scim/v2"}
	svc := directory.NewService(db)
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ops := make([]string, n)
		for k := range ops {
			name := fmt.Sprintf("u%d-%d@example.com", i, k)
			ops[k] = `{"method":"POST","path":"/Users","bulkId":"` + fmt.Sprint(k) + `","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name +
				`","name":{"givenName":"Bulk","familyName":"` + fmt.Sprint(k) + `"},"emails":[{"value":"` + name + `","type":"work","primary":true}]}}`
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` + strings.Join(ops, ",") + `]}`)))
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := cpuTime()
		res, err := svc.Bulk(ctx, c, body)
		cpu += cpuTime() - start
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/user")
	// The floor: PostgreSQL alone writing as many users, with their
	// emails, audit records and events, into the tenant's tables and
	// indexes, in one statement of its own making (no Go, no parameters).
	var floor time.Duration
	for i := range b.N {
		start := time.Now()
		err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, floorSQL, n, fmt.Sprintf("floor%d-", i))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		floor += time.Since(start)
	}
	b.ReportMetric(float64(b.N*n)/floor.Seconds(), "floor-users/s")
	if err := tenants.DeleteTenant(ctx, tn.ID, "test"); err != nil {
		b.Error(err)
	}
}

// floorSQL writes $1 users named $2 followed by a number, as a Bulk
// request's users are written, in one statement.
const floorSQL = `WITH g AS (SELECT gen_random_uuid() AS id, $2 || k || '@example.com' AS name, k FROM generate_series(1, $1::int) k),
	r AS (INSERT INTO users (id, user_name, active, data)
		SELECT id, name, true, jsonb_build_object('schemas', '["urn:ietf:params:scim:schemas:core:2.0:User"]'::jsonb, 'userName', name, 'active', true,
			'name', jsonb_build_object('givenName', 'Bulk', 'familyName', k::text),
			'emails', jsonb_build_array(jsonb_build_object('value', name, 'type', 'work', 'primary', true)))
		FROM g ORDER BY k RETURNING id, user_name, data, created),
	c AS (UPDATE counters SET value = value + $1 WHERE name = 'users'),
	e AS (INSERT INTO user_emails (user_id, value, type, is_primary) SELECT id, user_name, 'work', true FROM r),
	a AS (INSERT INTO audit_events (actor, action, target, outcome, details) SELECT 'floor', 'user.create', id::text, 'success', '{"bulk": true}' FROM r),
	s AS (UPDATE event_sequence SET last = last + $1 RETURNING last - $1 AS base)
	INSERT INTO events (sequence, id, type, at, actor, data)
	SELECT s.base + row_number() OVER (), gen_random_uuid(), 'user.created', now(), 'floor', r.data || jsonb_build_object('id', r.id, 'meta', jsonb_build_object('created', r.created))
	FROM s, r`

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCreate creates Users one at a time in the service, without
// HTTP: the latency of a sequential create, which its round trips make,
// with its median and 99th percentile (the rare create that merges a
// trigram index's pending list shows in the latter).
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	db := storetest.NewDB(b)
	tenants := tenant.NewService(db)
	tn, tok, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: "createbench", Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		b.Fatal(err)
	}
	p, err := credential.NewService(tenants).Authenticate(ctx, tok.Secret)
	if err != nil {
		b.Fatal(err)
	}
	p.Permissions.MaxUsers = 1 << 30
	c := directory.Caller{Principal: p, RequestID: "req-1", BaseURL: "https://scim.test/scim/v2"}
	svc := directory.NewService(db)
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		name := fmt.Sprintf("u%d@example.com", i)
		if _, err := svc.Create(ctx, c, scim.UserResource, map[string]any{
			"schemas": []any{scim.UserResource.Schema}, "userName": name, "name": map[string]any{"givenName": "Ada"},
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
		}); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(took[(len(took)*99+99)/100-1].Microseconds())/1000, "p99-ms")
	if err := tenants.DeleteTenant(ctx, tn.ID, "test"); err != nil {
		b.Error(err)
	}
}
