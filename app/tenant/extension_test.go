package tenant_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestSchemaExtensionIndexes: indexed and unique extension attributes get
// indexes in the tenant's schema that filters really use, for strict
// tenants too; a uniqueness rule that stored values break is refused whole.
func TestSchemaExtensionIndexes(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	ctx := context.Background()
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	for _, strict := range []bool{false, true} {
		id := map[bool]string{false: "plain", true: "strict"}[strict]
		tn, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: id, Strict: strict}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ext, err := scim.ParseExtension([]byte(`{"schema": "` + urn + `", "attributes": [
			{"name": "costCenter", "type": "string", "indexed": true},
			{"name": "level", "type": "integer", "indexed": true},
			{"name": "badge", "type": "string", "caseExact": true},
			{"name": "tag", "type": "string"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutSchemaExtension(ctx, tn.ID, ext, "test"); err != nil {
			t.Fatal(err)
		}
		rt := scim.UserResource.Extend([]*scim.Extension{ext})
		for _, filter := range []string{urn + `:costCenter eq "Sales"`, urn + `:level gt 3`} {
			where, args, err := rt.CompileFilter(filter, 0)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
				if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
					return err
				}
				return tx.SelectContext(ctx, &plan, `EXPLAIN SELECT id FROM users WHERE `+where, args...)
			})
			if err != nil {
				t.Fatal(err)
			}
			if p := strings.Join(plan, "\n"); !strings.Contains(p, scim.IndexName(urn, ext.Schema.Attributes[0])) &&
				!strings.Contains(p, scim.IndexName(urn, ext.Schema.Attributes[1])) {
				t.Errorf("%s: strict=%v: no extension index in the plan:\n%s", filter, strict, p)
			}
		}

		// Two users share a tag; making tag unique is refused and changes nothing.
		err = db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES
				(gen_random_uuid(), 'a', jsonb_build_object($1::text, jsonb_build_object('tag', 'x'))),
				(gen_random_uuid(), 'b', jsonb_build_object($1::text, jsonb_build_object('tag', 'X')))`, urn)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		unique, err := scim.ParseExtension([]byte(`{"schema": "` + urn + `", "attributes": [
			{"name": "tag", "type": "string", "uniqueness": "server"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutSchemaExtension(ctx, tn.ID, unique, "test"); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("unique over repeated values: %v, want ECONFLICT", err)
		}
		list, err := s.FindSchemaExtensions(ctx, tn.ID)
		if err != nil || len(list) != 1 || len(list[0].Definition.Attributes) != 4 {
			t.Fatalf("after a refused change: %+v, %v; want the first definition", list, err)
		}
	}
	ext, err := scim.ParseExtension([]byte(`{"schema": "` + urn + `", "attributes": [{"name": "tag", "type": "string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchemaExtension(ctx, "nobody", ext, "test"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Errorf("unknown tenant: %v, want ENOTFOUND", err)
	}
}

// TestSchemaExtensionLimits: indexes and extensions per tenant are bounded.
func TestSchemaExtensionLimits(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	ctx := context.Background()
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "many"}, "test"); err != nil {
		t.Fatal(err)
	}
	var attrs []string
	for i := range scim.MaxIndexedAttrs + 1 {
		attrs = append(attrs, fmt.Sprintf(`{"name": "a%d", "type": "string", "indexed": true}`, i))
	}
	_, err := scim.ParseExtension([]byte(`{"schema": "urn:ietf:params:scim:schemas:extension:x:2.0:User", "attributes": [` + strings.Join(attrs, ",") + `]}`))
	if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), "indexes") {
		t.Errorf("%d indexed attributes: %v, want EINVALID", len(attrs), err)
	}
	for i := range tenant.MaxSchemaExtensions + 1 {
		ext, err := scim.ParseExtension([]byte(fmt.Sprintf(`{"schema": "urn:ietf:params:scim:schemas:extension:e%d:2.0:Group", "attributes": [{"name": "a", "type": "string"}]}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		err = s.PutSchemaExtension(ctx, "many", ext, "test")
		if i < tenant.MaxSchemaExtensions && err != nil {
			t.Fatalf("extension %d: %v", i+1, err)
		}
		if i == tenant.MaxSchemaExtensions && app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("extension %d: %v, want EINVALID", i+1, err)
		}
	}
}
