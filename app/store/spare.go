package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Spare schemas are tenant schemas created and migrated before anyone asks
// for them, named bulkhead_spare_<16 hex digits> (never a tenant's schema
// name, which starts with tenant_) and listed in control.spare_schemas.
// Creating a tenant then claims one and renames it: ALTER SCHEMA … RENAME
// touches one catalog row, where creating the tables, indexes and triggers
// takes a hundred milliseconds. Nothing in a tenant schema depends on the
// schema's name, so a renamed spare is the same as a fresh schema.

// Fingerprint identifies a list of migrations by their versions, names and
// SQL, so that a spare made by one build is never handed out by a build
// whose migrations differ.
func Fingerprint(ms []Migration) string {
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00", m.Version, m.Name, m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// spareLock is the advisory-lock key under which spares are created, so
// that instances refilling at once do not overshoot the target.
const spareLock = 0x73706172 // "spar"

// CreateSpareSchema creates one spare schema migrated with ms, in a
// transaction of its own, unless there are already want spares matching ms.
// It reports whether it created one.
func (db *DB) CreateSpareSchema(ctx context.Context, ms []Migration, want int) (created bool, err error) {
	fp := Fingerprint(ms)
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.Itoa(spareLock)+`)`); err != nil {
			return err
		}
		var have int
		if err := tx.GetContext(ctx, &have, `SELECT count(*) FROM control.spare_schemas WHERE fingerprint = $1`, fp); err != nil {
			return fmt.Errorf("count spare schemas: %w", err)
		}
		if have >= want {
			return nil
		}
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		name := "bulkhead_spare_" + hex.EncodeToString(b)
		if _, err := tx.ExecContext(ctx, db.createSchemaSQL(name)); err != nil {
			return fmt.Errorf("create spare schema: %w", err)
		}
		v, err := db.migrateSchema(ctx, tx, name, 0, ms)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO control.spare_schemas (name, schema_version, fingerprint) VALUES ($1, $2, $3)`, name, v, fp); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// ClaimSpareSchema takes a spare schema matching ms, if one is free, and
// renames it to the tenant's schema inside tx. Concurrent claims never get
// the same spare: each locks its row and skips rows others hold. When tx
// rolls back, the spare stays a spare. It reports whether it claimed one;
// the schema's version is then len(ms).
func (db *DB) ClaimSpareSchema(ctx context.Context, tx *sqlx.Tx, tenantID string, ms []Migration) (bool, error) {
	const q = `
		DELETE FROM control.spare_schemas WHERE name = (
			SELECT name FROM control.spare_schemas WHERE fingerprint = $1
			ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING name`
	var name string
	if err := tx.GetContext(ctx, &name, q, Fingerprint(ms)); errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("claim a spare schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `ALTER SCHEMA `+pq.QuoteIdentifier(name)+` RENAME TO `+pq.QuoteIdentifier(SchemaName(tenantID))); err != nil {
		return false, fmt.Errorf("rename spare schema: %w", err)
	}
	return true, nil
}

// SpareSchema is one row of control.spare_schemas.
type SpareSchema struct {
	Name          string `db:"name"`
	SchemaVersion int    `db:"schema_version"`
	Fingerprint   string `db:"fingerprint"`
}

// MigrateSpareSchemas brings every spare up to ms, each in its own
// transaction: a spare whose migrations are a prefix of ms is migrated;
// any other (made by a build with different migrations) is dropped. It
// returns how many it migrated and dropped.
func (db *DB) MigrateSpareSchemas(ctx context.Context, ms []Migration) (migrated, dropped int, err error) {
	var spares []SpareSchema
	if err := db.SelectContext(ctx, &spares, `SELECT name, schema_version, fingerprint FROM control.spare_schemas ORDER BY name`); err != nil {
		return 0, 0, fmt.Errorf("list spare schemas: %w", err)
	}
	fp := Fingerprint(ms)
	for _, sp := range spares {
		if sp.Fingerprint == fp {
			continue
		}
		keep := sp.SchemaVersion < len(ms) && sp.Fingerprint == Fingerprint(ms[:sp.SchemaVersion])
		err := db.Transact(ctx, func(tx *sqlx.Tx) error {
			// Lock the row; a spare claimed meanwhile is gone.
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM (SELECT 1 FROM control.spare_schemas WHERE name = $1 FOR UPDATE SKIP LOCKED) s`, sp.Name); err != nil || n == 0 {
				return err
			}
			if !keep {
				if _, err := tx.ExecContext(ctx, `DELETE FROM control.spare_schemas WHERE name = $1`, sp.Name); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+pq.QuoteIdentifier(sp.Name)+` CASCADE`); err != nil {
					return err
				}
				dropped++
				return nil
			}
			v, err := db.migrateSchema(ctx, tx, sp.Name, sp.SchemaVersion, ms)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE control.spare_schemas SET schema_version = $2, fingerprint = $3 WHERE name = $1`, sp.Name, v, fp); err != nil {
				return err
			}
			migrated++
			return nil
		})
		if err != nil {
			return migrated, dropped, fmt.Errorf("spare schema %s: %w", sp.Name, err)
		}
	}
	return migrated, dropped, nil
}

// DropSpareSchemas drops every spare schema, for tests and for an operator
// who wants them gone; it returns how many it dropped.
func (db *DB) DropSpareSchemas(ctx context.Context) (int, error) {
	var names []string
	if err := db.SelectContext(ctx, &names, `SELECT name FROM control.spare_schemas`); err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		err := db.Transact(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM control.spare_schemas WHERE name = $1`, name)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			n++
			_, err = tx.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+pq.QuoteIdentifier(name)+` CASCADE`)
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
