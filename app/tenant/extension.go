package tenant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// SchemaExtension is one of a tenant's SCIM schema extensions as staff see
// it: its definition and when it was added, changed and removed. A removed
// extension is no longer served, but the values stored under it stay until
// it is purged.
type SchemaExtension struct {
	Definition scim.ExtensionDef `json:"definition"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	RemovedAt  *time.Time        `json:"removed_at,omitempty"`
}

// ResourceTypes are a tenant's SCIM resource types: User and Group with the
// tenant's own extensions, if it has any. The zero value stands for the
// standard User and Group.
type ResourceTypes struct {
	User, Group *scim.ResourceType
}

// All returns the resource types in the order discovery lists them.
func (t ResourceTypes) All() []*scim.ResourceType {
	return []*scim.ResourceType{t.Of(scim.UserResource), t.Of(scim.GroupResource)}
}

// Of returns the tenant's version of rt, scim.UserResource or
// scim.GroupResource.
func (t ResourceTypes) Of(rt *scim.ResourceType) *scim.ResourceType {
	mine := t.User
	if rt.Is(scim.GroupResource) {
		mine = t.Group
	}
	if mine == nil {
		return rt
	}
	return mine
}

// Schemas returns the schemas /Schemas serves: the standard ones, then
// the tenant's extensions.
func (t ResourceTypes) Schemas() []*scim.Schema {
	out := append([]*scim.Schema(nil), scim.Schemas...)
	for _, rt := range t.All() {
		for _, s := range rt.Extensions() {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// extensionsColumn is the SQL that reads, beside a tenant t, the
// definitions of its extensions in service as one JSON array, so that
// authenticating a request costs no extra round trip for them. A change of
// the extensions evicts the cached principals of the tenant everywhere.
const extensionsColumn = `(SELECT COALESCE(json_agg(e.definition ORDER BY lower(e.urn)), '[]')
	FROM control.schema_extensions e WHERE e.tenant_id = t.id AND e.removed_at IS NULL) AS extensions`

// resourceTypes returns the resource types of a tenant whose extensions in
// service are defs, a JSON array of definitions. A definition that no
// longer parses (edited by hand) is skipped.
func resourceTypes(defs []byte) ResourceTypes {
	var list []json.RawMessage
	_ = json.Unmarshal(defs, &list)
	var exts []*scim.Extension
	for _, d := range list {
		if e, err := scim.ParseExtension(d); err == nil {
			exts = append(exts, e)
		}
	}
	return ResourceTypes{User: scim.UserResource.Extend(exts), Group: scim.GroupResource.Extend(exts)}
}

// MaxSchemaExtensions is the most extensions a tenant may have, removed
// ones included until they are purged.
const MaxSchemaExtensions = 20

// extensionDDLTimeout bounds building the indexes of an extension, which
// reads every user (or group) of the tenant once.
const extensionDDLTimeout = 5 * time.Minute

type extensionRow struct {
	URN        string     `db:"urn"`
	Definition []byte     `db:"definition"`
	CreatedAt  time.Time  `db:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at"`
	RemovedAt  *time.Time `db:"removed_at"`
}

// FindSchemaExtensions lists the tenant's extensions, removed ones too,
// by URN. It returns ENOTFOUND for an unknown tenant.
func (s *Service) FindSchemaExtensions(ctx context.Context, tenantID string) ([]*SchemaExtension, error) {
	if _, err := s.FindTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	var rows []extensionRow
	const q = `SELECT urn, definition, created_at, updated_at, removed_at
		FROM control.schema_extensions WHERE tenant_id = $1 ORDER BY lower(urn)`
	if err := s.DB.SelectContext(ctx, &rows, q, tenantID); err != nil {
		return nil, fmt.Errorf("find schema extensions of %q: %w", tenantID, store.Unavailable(err))
	}
	out := make([]*SchemaExtension, 0, len(rows))
	for _, r := range rows {
		e := &SchemaExtension{CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, RemovedAt: r.RemovedAt}
		if err := json.Unmarshal(r.Definition, &e.Definition); err != nil {
			return nil, fmt.Errorf("extension %q of %q: %w", r.URN, tenantID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// PutSchemaExtension adds an extension to the tenant, or replaces the
// definition of one with the same URN (a removed one comes back, with the
// values stored under it). Indexes of indexed and unique attributes are
// built in the tenant's schema in the same transaction, so the change is
// whole or absent. It returns EINVALID for a definition Bulkhead cannot
// serve, ECONFLICT when stored values break a new uniqueness rule, and
// ENOTFOUND for an unknown tenant.
func (s *Service) PutSchemaExtension(ctx context.Context, tenantID string, ext *scim.Extension, actor string) error {
	def, err := json.Marshal(ext.Def())
	if err != nil {
		return fmt.Errorf("encode extension: %w", err)
	}
	return s.changeExtension(ctx, tenantID, func(tx *sqlx.Tx) error {
		old, err := lockExtension(ctx, tx, tenantID, ext.Schema.ID)
		if err != nil {
			return err
		}
		action := "schema_extension.add"
		if old != nil {
			action = "schema_extension.update"
			if err := dropIndexes(ctx, tx, old.Extension); err != nil {
				return err
			}
			const q = `UPDATE control.schema_extensions SET urn = $3, resource_type = $4, definition = $5,
				updated_at = now(), removed_at = NULL WHERE tenant_id = $1 AND lower(urn) = lower($2)`
			if _, err := tx.ExecContext(ctx, q, tenantID, old.Schema.ID, ext.Schema.ID, ext.ResourceType, string(def)); err != nil {
				return fmt.Errorf("update extension: %w", err)
			}
		} else {
			// Adds of one tenant take turns, so the limit holds.
			var n int
			const count = `SELECT count(*) FROM control.schema_extensions WHERE tenant_id = (
				SELECT id FROM control.tenants WHERE id = $1 FOR UPDATE)`
			if err := tx.GetContext(ctx, &n, count, tenantID); err != nil {
				return fmt.Errorf("count extensions: %w", err)
			}
			if n >= MaxSchemaExtensions {
				return app.Errorf(app.EINVALID, "tenant %q has %d schema extensions, the most it may have (removed ones count until purged)", tenantID, n)
			}
			const q = `INSERT INTO control.schema_extensions (tenant_id, urn, resource_type, definition) VALUES ($1, $2, $3, $4)`
			if _, err := tx.ExecContext(ctx, q, tenantID, ext.Schema.ID, ext.ResourceType, string(def)); err != nil {
				return fmt.Errorf("add extension: %w", err)
			}
			e := events.New{Type: events.TenantExtensionAdded, Data: map[string]string{"id": tenantID, "schema": ext.Schema.ID, "resource_type": ext.ResourceType}}
			if err := events.Enqueue(ctx, tx, tenantID, actor, e); err != nil {
				return err
			}
		}
		if err := createIndexes(ctx, tx, ext); err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, action, tenantID, map[string]any{"schema": ext.Schema.ID, "attributes": attrSummary(ext)})
	})
}

// RemoveSchemaExtension stops serving one of the tenant's extensions: its
// attributes are no longer advertised, accepted or returned, and its
// indexes are dropped, but the values stored under it stay until
// PurgeSchemaExtension. It returns ENOTFOUND when the tenant has no such
// extension in service.
func (s *Service) RemoveSchemaExtension(ctx context.Context, tenantID, urn, actor string) error {
	return s.changeExtension(ctx, tenantID, func(tx *sqlx.Tx) error {
		old, err := lockExtension(ctx, tx, tenantID, urn)
		if err != nil {
			return err
		}
		if old == nil || old.removed {
			return app.Errorf(app.ENOTFOUND, "tenant %q has no schema extension %q in service", tenantID, urn)
		}
		if err := dropIndexes(ctx, tx, old.Extension); err != nil {
			return err
		}
		const q = `UPDATE control.schema_extensions SET removed_at = now(), updated_at = now() WHERE tenant_id = $1 AND lower(urn) = lower($2)`
		if _, err := tx.ExecContext(ctx, q, tenantID, urn); err != nil {
			return fmt.Errorf("remove extension: %w", err)
		}
		return audit.Record(ctx, tx, actor, "schema_extension.remove", tenantID, map[string]any{"schema": old.Schema.ID})
	})
}

// PurgeSchemaExtension deletes a removed extension for good: its
// definition, and the values stored under it in every user (or group) of
// the tenant. It returns the number of resources that held values, EINVALID
// when the extension is still in service (remove it first) and ENOTFOUND
// when the tenant has no such extension.
func (s *Service) PurgeSchemaExtension(ctx context.Context, tenantID, urn, actor string) (int64, error) {
	var purged int64
	err := s.changeExtension(ctx, tenantID, func(tx *sqlx.Tx) error {
		old, err := lockExtension(ctx, tx, tenantID, urn)
		if err != nil {
			return err
		}
		if old == nil {
			return app.Errorf(app.ENOTFOUND, "tenant %q has no schema extension %q", tenantID, urn)
		}
		if !old.removed {
			return app.Errorf(app.EINVALID, "schema extension %q is in service: remove it before purging its values", old.Schema.ID)
		}
		// The key is a parameter; the table name comes from the definition.
		res, err := tx.ExecContext(ctx, `UPDATE `+old.Table()+` SET data = data - $1 WHERE data ? $1`, old.Schema.ID)
		if err != nil {
			return fmt.Errorf("purge extension values: %w", err)
		}
		purged, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `DELETE FROM control.schema_extensions WHERE tenant_id = $1 AND lower(urn) = lower($2)`, tenantID, urn); err != nil {
			return fmt.Errorf("purge extension: %w", err)
		}
		return audit.Record(ctx, tx, actor, "schema_extension.purge", tenantID, map[string]any{"schema": old.Schema.ID, "resources": purged})
	})
	return purged, err
}

// attrSummary lists the attributes of ext as the audit trail shows them:
// "costCenter (string, indexed); badge (integer, unique)".
func attrSummary(ext *scim.Extension) string {
	var parts []string
	for _, a := range ext.Def().Attributes {
		parts = append(parts, a.Name+" ("+a.Summary()+")")
	}
	return strings.Join(parts, "; ")
}

// changeExtension runs fn in one transaction in the tenant's schema, as
// the schema's owner (indexes need it, strict tenants included), with room
// for building indexes. The control rows it writes are schema-qualified.
func (s *Service) changeExtension(ctx context.Context, tenantID string, fn func(tx *sqlx.Tx) error) error {
	t, err := s.FindTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	return s.DB.InTenant(ctx, store.Scope{TenantID: t.ID, Timeout: extensionDDLTimeout}, fn)
}

// storedExtension is an extension as the control plane holds it.
type storedExtension struct {
	*scim.Extension
	removed bool
}

// lockExtension reads the tenant's extension urn, if any, locking its row
// so that two changes of one extension take turns.
func lockExtension(ctx context.Context, tx *sqlx.Tx, tenantID, urn string) (*storedExtension, error) {
	var row extensionRow
	const q = `SELECT urn, definition, created_at, updated_at, removed_at FROM control.schema_extensions
		WHERE tenant_id = $1 AND lower(urn) = lower($2) FOR UPDATE`
	err := tx.GetContext(ctx, &row, q, tenantID, urn)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read extension: %w", err)
	}
	ext, err := scim.ParseExtension(row.Definition)
	if err != nil {
		return nil, fmt.Errorf("stored extension %q: %w", row.URN, err)
	}
	return &storedExtension{Extension: ext, removed: row.RemovedAt != nil}, nil
}

// createIndexes builds the indexes of ext's indexed and unique attributes.
// Names and expressions come from the checked definition (scim.IndexName,
// IndexExpr); no value from a request reaches this DDL.
func createIndexes(ctx context.Context, tx *sqlx.Tx, ext *scim.Extension) error {
	for _, a := range ext.Schema.Attributes {
		unique := a.Uniqueness == scim.UniqueServer
		if !unique && !ext.Indexes(a.Name) {
			continue
		}
		kind := "INDEX"
		if unique {
			kind = "UNIQUE INDEX"
		}
		ddl := `CREATE ` + kind + ` IF NOT EXISTS ` + pq.QuoteIdentifier(scim.IndexName(ext.Schema.ID, a)) +
			` ON ` + ext.Table() + ` (` + ext.IndexExpr(a) + `)`
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			var pqErr *pq.Error
			if errors.As(err, &pqErr) && pqErr.Code == "23505" {
				return app.Errorf(app.ECONFLICT, "attribute %q cannot be unique: some of the tenant's stored values repeat", a.Name)
			}
			return fmt.Errorf("index %s: %w", a.Name, err)
		}
	}
	return nil
}

// dropIndexes drops every index createIndexes may have built for ext.
func dropIndexes(ctx context.Context, tx *sqlx.Tx, ext *scim.Extension) error {
	for _, a := range ext.Schema.Attributes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+pq.QuoteIdentifier(scim.IndexName(ext.Schema.ID, a))); err != nil {
			return fmt.Errorf("drop index of %s: %w", a.Name, err)
		}
	}
	return nil
}
