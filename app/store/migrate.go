package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store/pool"
	"github.com/bulkhead-dev/bulkhead/schema"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d+)_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads dir of fsys: files named NNN_name.sql, numbered 1, 2,
// 3 … without gaps. Any other file is an error.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries { // ReadDir sorts by name
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s/%s: name must look like 001_name.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s/%s: expected version %d", dir, e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(b)})
	}
	return ms, nil
}

// ControlMigrations and TenantMigrations are the migrations embedded in the
// binary.
var (
	ControlMigrations = mustLoad("control")
	TenantMigrations  = mustLoad("tenant")
)

func mustLoad(dir string) []Migration {
	ms, err := LoadMigrations(schema.FS, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// TenantTables are the tables of a tenant schema as the tenant migrations
// leave it (TestTenantTables keeps the list true); schema extensions add
// indexes only. A tenant's disk space is summed over them
// (usage.StorageBytes), found by name in the catalog's index: pg_class has
// no index by schema, and with 10,000 tenants scanning it took 0.4 s.
var TenantTables = []string{"users", "user_emails", "groups", "group_members", "counters", "audit_events", "events", "event_sequence"}

// LatestVersion returns the version a schema has after all of ms.
func LatestVersion(ms []Migration) int { return len(ms) }

// controlLock is the advisory-lock key under which the control plane is
// migrated, so that instances starting together take turns.
const controlLock = 0x62756c6b // "bulk"

// MigrateControl brings the control schema up to date in one transaction
// under an advisory lock, and returns how many migrations it applied.
func (db *DB) MigrateControl(ctx context.Context) (applied int, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, controlLock); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			CREATE SCHEMA IF NOT EXISTS control;
			CREATE TABLE IF NOT EXISTS control.schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`); err != nil {
			return err
		}
		var current int
		if err := tx.GetContext(ctx, &current, `SELECT COALESCE(max(version), 0) FROM control.schema_migrations`); err != nil {
			return err
		}
		if current > len(ControlMigrations) {
			return fmt.Errorf("the control schema is at version %d, newer than this binary knows (%d): upgrade bulkhead", current, len(ControlMigrations))
		}
		for _, m := range ControlMigrations[current:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("control migration %03d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO control.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

// ControlVersion returns the version of the control schema, 0 when absent.
func (db *DB) ControlVersion(ctx context.Context) (int, error) {
	var v int
	err := db.GetContext(ctx, &v, `
		SELECT CASE WHEN to_regclass('control.schema_migrations') IS NULL THEN 0
		ELSE (SELECT COALESCE(max(version), 0) FROM control.schema_migrations) END`)
	return v, err
}

// CreateTenantSchema creates the tenant's schema inside tx and applies ms to
// it; for a strict tenant it also creates the tenant's role. Everything
// happens in the caller's transaction, so a failure leaves nothing behind.
// It returns the schema's version.
func (db *DB) CreateTenantSchema(ctx context.Context, tx *sqlx.Tx, s Scope, ms []Migration) (int, error) {
	if _, err := tx.ExecContext(ctx, db.createSchemaSQL(SchemaName(s.TenantID))); err != nil {
		return 0, fmt.Errorf("create schema: %w", err)
	}
	if s.Strict {
		role := pq.QuoteIdentifier(db.RoleName(s.TenantID))
		if _, err := tx.ExecContext(ctx, `CREATE ROLE `+role+` NOLOGIN; GRANT `+role+` TO CURRENT_USER`); err != nil {
			return 0, fmt.Errorf("create tenant role: %w", err)
		}
	}
	return db.MigrateTenantSchema(ctx, tx, s, 0, ms)
}

// MigrateTenantSchema applies ms[from:] to the tenant's schema inside tx and
// returns the new version. Strict tenants' roles are granted the tables the
// migrations create.
func (db *DB) MigrateTenantSchema(ctx context.Context, tx *sqlx.Tx, s Scope, from int, ms []Migration) (int, error) {
	schema := pq.QuoteIdentifier(SchemaName(s.TenantID))
	from, err := db.migrateSchema(ctx, tx, SchemaName(s.TenantID), from, ms)
	if err != nil {
		return from, err
	}
	if s.Strict {
		role := pq.QuoteIdentifier(db.RoleName(s.TenantID))
		if _, err := tx.ExecContext(ctx, `
			GRANT USAGE ON SCHEMA `+schema+` TO `+role+`;
			GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schema+` TO `+role+`;
			GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA `+schema+` TO `+role); err != nil {
			return from, fmt.Errorf("grant tenant role: %w", err)
		}
	}
	return from, nil
}

// migrateSchema applies ms[from:] to the named schema inside tx and returns
// the new version, or the last version applied with the error.
func (db *DB) migrateSchema(ctx context.Context, tx *sqlx.Tx, schema string, from int, ms []Migration) (int, error) {
	ctx = pool.InSchema(ctx, schema)
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO `+pq.QuoteIdentifier(schema)); err != nil {
		return from, err
	}
	for _, m := range ms[from:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return from, fmt.Errorf("tenant migration %03d_%s: %w", m.Version, m.Name, err)
		}
		from = m.Version
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO DEFAULT`); err != nil {
		return from, err
	}
	return from, nil
}

// createSchemaSQL returns the statement that creates an empty schema: a
// Citus distributed schema when the pool was opened with CitusSchemas and
// the citus extension is installed. The schema is created in a statement of
// its own, before its tables, as Citus schema-based sharding requires.
func (db *DB) createSchemaSQL(name string) string {
	q := `CREATE SCHEMA ` + pq.QuoteIdentifier(name)
	if db.citus {
		q = `SET LOCAL citus.enable_schema_based_sharding TO on; ` + q + `; SET LOCAL citus.enable_schema_based_sharding TO off`
	}
	return q
}

// DropTenantSchema drops the tenant's schema and, if it has one, its role.
// It first waits for the tenant's running transactions to end and keeps new
// ones waiting until tx ends (see InTenant).
func (db *DB) DropTenantSchema(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	if err := db.LockTenant(ctx, tx, tenantID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+pq.QuoteIdentifier(SchemaName(tenantID))+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema: %w", err)
	}
	role := db.RoleName(tenantID)
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role); err != nil {
		return err
	}
	if exists {
		q := pq.QuoteIdentifier(role)
		if _, err := tx.ExecContext(ctx, `DROP OWNED BY `+q+`; DROP ROLE `+q); err != nil {
			return fmt.Errorf("drop tenant role: %w", err)
		}
	}
	return nil
}

// LockTenant waits, in the control transaction tx, for the tenant's running
// transactions to end, and keeps new ones waiting until tx ends
// (InTenant takes the same lock shared), as DropTenantSchema does before it
// drops the schema; taking it twice in tx is harmless.
func (db *DB) LockTenant(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+tenantLockKey(tenantID)+`)`); err != nil {
		return fmt.Errorf("wait for the tenant's transactions: %w", err)
	}
	return nil
}
