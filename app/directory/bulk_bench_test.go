package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
	b.ResetTimer()
	for i := range b.N {
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
		res, err := svc.Bulk(ctx, c, body)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "users/s")
	if err := tenants.DeleteTenant(ctx, tn.ID, "test"); err != nil {
		b.Error(err)
	}
}

// BenchmarkCreate creates Users one at a time in the service, without
// HTTP: the latency of a sequential create, which its round trips make.
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
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("u%d@example.com", i)
		if _, err := svc.Create(ctx, c, scim.UserResource, map[string]any{
			"schemas": []any{scim.UserResource.Schema}, "userName": name, "name": map[string]any{"givenName": "Ada"},
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := tenants.DeleteTenant(ctx, tn.ID, "test"); err != nil {
		b.Error(err)
	}
}
