package tenant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestExportImportRoundTrip: a tenant exported and imported under another
// id exports again to the same rows (ids, versions, meta timestamps, data,
// memberships, audit trail), the same control rows, and working counters.
func TestExportImportRoundTrip(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	s := tenant.NewService(db)
	src, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme", Name: "Acme Inc", Plan: tenant.PlanTrial, MaxUsers: ptr(77)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	err = db.InTenant(ctx, src.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO users (id, user_name, external_id, display_name, active, password_hash, data, version, created, last_modified)
			SELECT gen_random_uuid(), 'user' || i, 'ext' || i, 'Ünïcode "quoted" ' || i, i % 3 <> 0, CASE WHEN i = 1 THEN '$2a$10$hash' END,
				jsonb_build_object('userName', 'user' || i, 'name', jsonb_build_object('givenName', 'G' || i), 'x', 1.50, 'nested', jsonb_build_array(1, 'two', null)),
				i, '2001-02-03 04:05:06.789012+00'::timestamptz + i * interval '1 second', clock_timestamp()
			FROM generate_series(1, 30) i;
			INSERT INTO user_emails (user_id, value, type, is_primary) SELECT id, user_name || '@example.com', 'work', true FROM users;
			INSERT INTO groups (id, display_name, external_id, data, version) VALUES
				(gen_random_uuid(), 'Admins', 'g-ext', '{"displayName": "Admins"}', 3),
				(gen_random_uuid(), 'Everyone', NULL, '{"displayName": "Everyone"}', 1);
			INSERT INTO group_members (group_id, member_id, member_type)
			SELECT g.id, u.id, 'User' FROM groups g, users u WHERE g.display_name = 'Everyone' OR u.user_name = 'user1';
			INSERT INTO group_members (group_id, member_id, member_type)
			SELECT a.id, e.id, 'Group' FROM groups a, groups e WHERE a.display_name = 'Admins' AND e.display_name = 'Everyone';
			INSERT INTO audit_events (actor, action, target, outcome, details) VALUES ('okta', 'create', 'Users/x', 'ok', '{"a": [1]}'), ('okta', 'patch', 'Groups/y', 'ok', '{}')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	ext, err := scim.ParseExtension([]byte(`{"schema": "` + urn + `", "attributes": [{"name": "badge", "type": "integer", "uniqueness": "server"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchemaExtension(ctx, "acme", ext, "test"); err != nil {
		t.Fatal(err)
	}

	var first bytes.Buffer
	if err := s.ExportTenant(ctx, "acme", &first); err != nil {
		t.Fatal(err)
	}
	copied, tok, err := s.ImportTenant(ctx, bytes.NewReader(first.Bytes()), "acme_copy", "test")
	if err != nil {
		t.Fatal(err)
	}
	if tok == nil || copied.ID != "acme_copy" || copied.Name != "Acme Inc" || copied.Plan != tenant.PlanTrial {
		t.Fatalf("imported tenant %+v", copied)
	}
	var second bytes.Buffer
	if err := s.ExportTenant(ctx, "acme_copy", &second); err != nil {
		t.Fatal(err)
	}
	a, b := decode(t, first.Bytes()), decode(t, second.Bytes())
	for _, table := range tenant.ExportTables {
		if !reflect.DeepEqual(a.Tables[table], b.Tables[table]) {
			t.Errorf("table %s differs after the round trip:\n%s\n%s", table, a.Tables[table], b.Tables[table])
		}
	}
	if len(a.Tables["users"].([]any)) != 30 || len(a.Tables["group_members"].([]any)) != 32 {
		t.Fatalf("export holds %d users and %d memberships", len(a.Tables["users"].([]any)), len(a.Tables["group_members"].([]any)))
	}
	if len(a.SchemaExtensions) != 1 || !reflect.DeepEqual(a.SchemaExtensions, b.SchemaExtensions) {
		t.Errorf("schema extensions differ:\n%v\n%v", a.SchemaExtensions, b.SchemaExtensions)
	}
	var indexed bool
	if err := db.GetContext(ctx, &indexed, `SELECT to_regclass($1) IS NOT NULL`, store.SchemaName("acme_copy")+"."+scim.IndexName(urn, ext.Schema.Attributes[0])); err != nil || !indexed {
		t.Errorf("the copy lacks the extension's unique index (%v)", err)
	}
	a.Tenant["id"], b.Tenant["id"] = nil, nil
	if !reflect.DeepEqual(a.Tenant, b.Tenant) || a.Permissions != b.Permissions || a.Permissions.MaxUsers != 77 {
		t.Errorf("control rows differ:\n%v %+v\n%v %+v", a.Tenant, a.Permissions, b.Tenant, b.Permissions)
	}
	// Counters were rebuilt; the copy keeps working and its audit trail
	// continues after the imported ids.
	err = db.InTenant(ctx, copied.Scope(), func(tx *sqlx.Tx) error {
		var users int
		if err := tx.GetContext(ctx, &users, `SELECT value FROM counters WHERE name = 'users'`); err != nil || users != 30 {
			t.Errorf("users counter %d, %v; want 30", users, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (actor, action, target, outcome) VALUES ('t', 'x', 'y', 'ok')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ErrConflict", func(t *testing.T) {
		_, _, err := s.ImportTenant(ctx, bytes.NewReader(first.Bytes()), "", "test")
		if app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("import over the original: %v, want a conflict", err)
		}
	})
	t.Run("ErrNotAnExport", func(t *testing.T) {
		before := countTenants(t, db)
		_, _, err := s.ImportTenant(ctx, strings.NewReader(`{"format": "something else"}`), "other", "test")
		if app.ErrorCode(err) != app.EINVALID || countTenants(t, db) != before {
			t.Fatalf("import of a non-export: %v", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := s.ExportTenant(ctx, "nobody", &bytes.Buffer{}); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("export of an unknown tenant: %v", err)
		}
	})
}

// TestExportCoversEveryTable: a migration that adds a tenant table must add
// it to the export.
func TestExportCoversEveryTable(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	if _, _, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "tables"}, "test"); err != nil {
		t.Fatal(err)
	}
	var tables []string
	if err := db.SelectContext(ctx, &tables, `SELECT tablename FROM pg_tables WHERE schemaname = 'tenant_tables' AND tablename NOT IN ('counters', 'events', 'event_sequence') ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(tenant.ExportTables))
	if !slices.Equal(tables, want) {
		t.Fatalf("tenant tables %v, exported %v", tables, want)
	}
}

type decoded struct {
	Tenant           map[string]any
	Permissions      tenant.Permissions
	SchemaExtensions []any `json:"schema_extensions"`
	Tables           map[string]any
}

func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, b)
	}
	return d
}

// TestExportImportBehaviour: the profile and flags travel with the tenant,
// and a user kept by soft_delete comes back kept (hidden, restorable,
// purged on time), not as a live user nor not at all. An export from before
// profiles existed imports on the default profile.
func TestExportImportBehaviour(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	s := tenant.NewService(db)
	src, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "kept", Profile: tenant.ProfileRFC}, "test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.FindBehaviour(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	b.SoftDelete = true
	if err := s.UpdateBehaviour(ctx, "kept", *b, "test"); err != nil {
		t.Fatal(err)
	}
	err = db.InTenant(ctx, src.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO users (id, user_name, active, data, deleted_at) VALUES
				(gen_random_uuid(), 'live', true, '{"userName": "live"}', NULL),
				(gen_random_uuid(), 'gone', false, '{"userName": "gone", "active": false}', '2001-02-03 04:05:06+00');`+scim.Recount)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	if err := s.ExportTenant(ctx, "kept", &export); err != nil {
		t.Fatal(err)
	}

	copied, _, err := s.ImportTenant(ctx, bytes.NewReader(export.Bytes()), "kept_copy", "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindBehaviour(ctx, "kept_copy")
	if err != nil {
		t.Fatal(err)
	}
	if want := (tenant.Behaviour{Profile: tenant.ProfileRFC, Flags: tenant.Flags{ReplaceNoTarget: tenant.ReplaceError, StrictSchemas: true, SoftDelete: true}}); *got != want {
		t.Errorf("imported behaviour %+v, want %+v", *got, want)
	}
	err = db.InTenant(ctx, copied.Scope(), func(tx *sqlx.Tx) error {
		var deleted []string
		if err := tx.SelectContext(ctx, &deleted, `SELECT user_name || ' ' || to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM users WHERE deleted_at IS NOT NULL`); err != nil {
			return err
		}
		if !slices.Equal(deleted, []string{"gone 2001-02-03"}) {
			t.Errorf("soft-deleted users in the copy: %q, want [gone 2001-02-03]", deleted)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OlderExport", func(t *testing.T) {
		var ex map[string]json.RawMessage
		if err := json.Unmarshal(export.Bytes(), &ex); err != nil {
			t.Fatal(err)
		}
		delete(ex, "behaviour")
		old, _ := json.Marshal(ex)
		if _, _, err := s.ImportTenant(ctx, bytes.NewReader(old), "kept_old", "test"); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindBehaviour(ctx, "kept_old")
		if err != nil {
			t.Fatal(err)
		}
		if want := (tenant.Behaviour{Profile: tenant.ProfileEntra, Flags: tenant.Profiles[tenant.ProfileEntra]}); *got != want {
			t.Errorf("behaviour of an export without one %+v, want %+v", *got, want)
		}
	})
	t.Run("ErrInvalidBehaviour", func(t *testing.T) {
		bad := strings.Replace(export.String(), `"profile":"rfc"`, `"profile":"lenient"`, 1)
		if _, _, err := s.ImportTenant(ctx, strings.NewReader(bad), "kept_bad", "test"); app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("import with profile lenient: %v, want EINVALID", err)
		}
	})
}
