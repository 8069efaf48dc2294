package tenant

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// ExportFormat names the format of tenant exports, so that a future change
// of it is recognized.
const ExportFormat = "bulkhead-tenant-export/1"

// ExportTables are the tenant tables an export holds, in the order an
// import fills them (referenced tables first). The counters table is not
// exported: the import recounts the rows. Nor is the outbox of directory
// events (events, event_sequence), which the feed in control holds: an
// imported tenant's events start again at sequence 1, as a new tenant's
// do. A migration that adds
// a table adds it here (TestExportCoversEveryTable checks).
var ExportTables = []string{"users", "user_emails", "groups", "group_members", "audit_events"}

// exportOrder orders each exported table by its key.
var exportOrder = map[string]string{
	"users": "id", "user_emails": "user_id, value, type", "groups": "id",
	"group_members": "group_id, member_id", "audit_events": "id",
}

// Export is one tenant as exported: its control rows and every row of its
// schema, each row as PostgreSQL's row_to_json gives it.
type Export struct {
	Format        string          `json:"format"`
	SchemaVersion int             `json:"schema_version"`
	ExportedAt    time.Time       `json:"exported_at"`
	Tenant        json.RawMessage `json:"tenant"`
	Permissions   Permissions     `json:"permissions"`
	// Behaviour is the tenant's profile and flags; exports made before
	// profiles existed lack it, and import those as tenants on the
	// default profile, as migration 017 made every tenant then.
	Behaviour *Behaviour `json:"behaviour,omitempty"`
	// SchemaExtensions are the tenant's SCIM schema extensions, removed
	// ones included (their values are in the tables).
	SchemaExtensions json.RawMessage            `json:"schema_extensions,omitempty"`
	Tables           map[string]json.RawMessage `json:"tables"`
}

// ExportTenant writes the tenant's control rows (tenant, permissions and
// behaviour, not its tokens, whose secrets are not kept) and all its users, groups,
// memberships and audit trail to w as one JSON object. Everything is read
// in one REPEATABLE READ transaction: a consistent snapshot even while SCIM
// writes go on. Rows are streamed, so memory stays small whatever the
// tenant's size. It returns ENOTFOUND for an unknown tenant.
func (s *Service) ExportTenant(ctx context.Context, id string, w io.Writer) error {
	if !store.ValidTenantID(id) {
		return app.Errorf(app.EINVALID, "invalid tenant id %q", id)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	sc, err := s.DB.LookupScope(ctx, id)
	if err != nil {
		return err
	}
	// The tenant's own role (strict tenants) could not read the control
	// rows: export as the owner.
	sc.Owner = true
	// An export is as long as the tenant is large: no time limit.
	sc.Timeout = -1
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	err = s.DB.InTenantTx(ctx, sc, opts, func(tx *sqlx.Tx) error {
		var head struct {
			Tenant  []byte `db:"tenant"`
			Version int    `db:"schema_version"`
		}
		err := tx.GetContext(ctx, &head, `SELECT row_to_json(t)::text AS tenant, schema_version FROM (
			SELECT id, name, plan, status, isolation, trial_ends_at, created_at, updated_at, schema_version
			FROM control.tenants WHERE id = $1) t`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
		} else if err != nil {
			return fmt.Errorf("export tenant %q: %w", id, err)
		}
		var p Permissions
		if err := tx.GetContext(ctx, &p, `SELECT `+permissionColumns+` FROM control.tenant_permissions WHERE tenant_id = $1`, id); err != nil {
			return fmt.Errorf("export permissions of %q: %w", id, err)
		}
		pj, _ := json.Marshal(p)
		var b Behaviour
		if err := tx.GetContext(ctx, &b, `SELECT `+behaviourColumns+` FROM control.tenant_permissions WHERE tenant_id = $1`, id); err != nil {
			return fmt.Errorf("export behaviour of %q: %w", id, err)
		}
		bj, _ := json.Marshal(b)
		var exts []byte
		if err := tx.GetContext(ctx, &exts, `SELECT COALESCE(json_agg(e ORDER BY lower(e.urn)), '[]')::text FROM (
			SELECT urn, resource_type, definition, created_at, updated_at, removed_at
			FROM control.schema_extensions WHERE tenant_id = $1) e`, id); err != nil {
			return fmt.Errorf("export schema extensions of %q: %w", id, err)
		}
		fmt.Fprintf(bw, "{\"format\":%q,\"schema_version\":%d,\"exported_at\":%q,\n\"tenant\":%s,\n\"permissions\":%s,\n\"behaviour\":%s,\n\"schema_extensions\":%s,\n\"tables\":{",
			ExportFormat, head.Version, time.Now().UTC().Format(time.RFC3339Nano), head.Tenant, pj, bj, exts)
		for i, table := range ExportTables {
			if i > 0 {
				bw.WriteString(",")
			}
			fmt.Fprintf(bw, "\n%q:[", table)
			// In key order, so that an export of unchanged data is the
			// same bytes.
			rows, err := tx.QueryContext(ctx, `SELECT row_to_json(t)::text FROM `+pq.QuoteIdentifier(table)+` t ORDER BY `+exportOrder[table])
			if err != nil {
				return fmt.Errorf("export %s: %w", table, err)
			}
			n := 0
			for rows.Next() {
				var row []byte
				if err := rows.Scan(&row); err != nil {
					rows.Close()
					return err
				}
				if n > 0 {
					bw.WriteString(",")
				}
				bw.WriteString("\n")
				bw.Write(row)
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("export %s: %w", table, err)
			}
			bw.WriteString("]")
		}
		bw.WriteString("}}\n")
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ImportTenant creates a tenant from an export: under newID, or the
// exported id when newID is empty. Control rows, schema, every row (ids,
// versions, meta timestamps and data exactly as exported) and a first SCIM
// token are created in one transaction, so a failed import leaves nothing.
// An export from an older schema version is loaded at that version and then
// migrated. It returns EINVALID for something that is not an export or
// comes from a newer version, and ECONFLICT when the id is taken.
func (s *Service) ImportTenant(ctx context.Context, r io.Reader, newID, actor string) (*Tenant, *NewToken, error) {
	var ex Export
	if err := json.NewDecoder(r).Decode(&ex); err != nil {
		return nil, nil, app.Errorf(app.EINVALID, "read the export: %v", err)
	}
	if ex.Format != ExportFormat {
		return nil, nil, app.Errorf(app.EINVALID, "not a Bulkhead tenant export (format %q, want %q)", ex.Format, ExportFormat)
	}
	if ex.SchemaVersion < 1 || ex.SchemaVersion > len(s.Migrations) {
		return nil, nil, app.Errorf(app.EINVALID, "the export is at schema version %d; this build knows 1 to %d", ex.SchemaVersion, len(s.Migrations))
	}
	var t Tenant
	if err := json.Unmarshal(ex.Tenant, &t); err != nil {
		return nil, nil, app.Errorf(app.EINVALID, "read the exported tenant: %v", err)
	}
	if newID != "" {
		t.ID = newID
	}
	if !store.ValidTenantID(t.ID) {
		return nil, nil, app.Errorf(app.EINVALID, "invalid tenant id %q", t.ID)
	}
	if err := ex.Permissions.Validate(); err != nil {
		return nil, nil, err
	}
	behaviour := Behaviour{Profile: ProfileEntra, Flags: Profiles[ProfileEntra]}
	if ex.Behaviour != nil {
		behaviour = *ex.Behaviour
	}
	if err := behaviour.Validate(); err != nil {
		return nil, nil, err
	}
	var tok *NewToken
	err := s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		const q = `
			INSERT INTO control.tenants (id, name, plan, status, isolation, trial_ends_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			RETURNING ` + tenantColumns
		if err := tx.GetContext(ctx, &t, q, t.ID, t.Name, t.Plan, t.Status, t.Isolation, t.TrialEndsAt, t.CreatedAt, t.UpdatedAt); err != nil {
			if isUniqueViolation(err) {
				return app.Errorf(app.ECONFLICT, "tenant %q already exists", t.ID)
			}
			return fmt.Errorf("insert tenant: %w", err)
		}
		if err := insertPermissions(ctx, tx, t.ID, ex.Permissions); err != nil {
			return err
		}
		if err := setBehaviour(ctx, tx, t.ID, behaviour); err != nil {
			return err
		}
		v, err := s.DB.CreateTenantSchema(ctx, tx, t.Scope(), s.Migrations[:ex.SchemaVersion])
		if err != nil {
			if isDuplicateSchema(err) {
				return app.Errorf(app.ECONFLICT, "schema %s already exists", store.SchemaName(t.ID))
			}
			return fmt.Errorf("create tenant %s: %w", t.ID, err)
		}
		// The data goes in as the schema's owner, in this transaction, so
		// that a failed import leaves nothing (store.InControlTx).
		err = store.InControlTx(ctx, tx, t.ID, func() error {
			for _, table := range ExportTables {
				rows, ok := ex.Tables[table]
				if !ok {
					continue // a table the export's version did not have yet
				}
				qt := pq.QuoteIdentifier(table)
				if _, err := tx.ExecContext(ctx, `INSERT INTO `+qt+` SELECT * FROM jsonb_populate_recordset(NULL::`+qt+`, $1::jsonb)`, string(rows)); err != nil {
					return fmt.Errorf("import %s: %w", table, err)
				}
			}
			// The audit trail's ids continue after the imported ones.
			if _, ok := ex.Tables["audit_events"]; ok {
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('audit_events', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM audit_events), false)`); err != nil {
					return fmt.Errorf("import: continue the audit trail's ids: %w", err)
				}
			}
			return importExtensions(ctx, tx, t.ID, ex.SchemaExtensions)
		})
		if err != nil {
			return err
		}
		if v, err = s.DB.MigrateTenantSchema(ctx, tx, t.Scope(), v, s.Migrations); err != nil {
			return fmt.Errorf("migrate the imported tenant: %w", err)
		}
		// The row counters, which SCIM writes keep, count the imported rows.
		err = store.InControlTx(ctx, tx, t.ID, func() error {
			_, err := tx.ExecContext(ctx, scim.Recount)
			return err
		})
		if err != nil {
			return fmt.Errorf("import: count the rows: %w", err)
		}
		t.SchemaVersion = v
		if _, err := tx.ExecContext(ctx, `UPDATE control.tenants SET schema_version = $2 WHERE id = $1`, t.ID, v); err != nil {
			return err
		}
		if tok, err = createToken(ctx, tx, t.ID, "first token", nil); err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, "tenant.import", t.ID, map[string]any{"schema_version": ex.SchemaVersion, "profile": behaviour.Profile})
	})
	if err != nil {
		return nil, nil, err
	}
	return &t, tok, nil
}

// importExtensions restores a tenant's schema extensions from an export,
// and the indexes of those in service; tx's search_path is the tenant's.
func importExtensions(ctx context.Context, tx *sqlx.Tx, tenantID string, rows json.RawMessage) error {
	if len(rows) == 0 {
		return nil
	}
	const q = `INSERT INTO control.schema_extensions (tenant_id, urn, resource_type, definition, created_at, updated_at, removed_at)
		SELECT $1, urn, resource_type, definition, created_at, updated_at, removed_at
		FROM jsonb_to_recordset($2::jsonb) AS e(urn text, resource_type text, definition jsonb,
			created_at timestamptz, updated_at timestamptz, removed_at timestamptz)`
	if _, err := tx.ExecContext(ctx, q, tenantID, string(rows)); err != nil {
		return app.Errorf(app.EINVALID, "import the schema extensions: %v", err)
	}
	var list []struct {
		Definition json.RawMessage `json:"definition"`
		RemovedAt  *time.Time      `json:"removed_at"`
	}
	if err := json.Unmarshal(rows, &list); err != nil {
		return app.Errorf(app.EINVALID, "read the schema extensions: %v", err)
	}
	for _, e := range list {
		if e.RemovedAt != nil {
			continue // not served: no indexes
		}
		ext, err := scim.ParseExtension(e.Definition)
		if err != nil {
			return app.Errorf(app.EINVALID, "schema extension in the export: %v", app.ErrorMessage(err))
		}
		if err := createIndexes(ctx, tx, ext); err != nil {
			return err
		}
	}
	return nil
}
