package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// KeyPrefix starts every events key, so that people and secret scanners
// tell it from a SCIM token (bh_) and a staff API key (bhk_).
const KeyPrefix = "bhe_"

// Key is a credential of the events API as listed: never the secret.
// Tenants is the tenants it may read; nil means all.
type Key struct {
	ID        uuid.UUID      `db:"id" json:"id"`
	Name      string         `db:"name" json:"name"`
	Prefix    string         `db:"prefix" json:"prefix"`
	Tenants   pq.StringArray `db:"tenants" json:"tenants"`
	CreatedAt time.Time      `db:"created_at" json:"created_at"`
	RevokedAt *time.Time     `db:"revoked_at" json:"revoked_at,omitempty"`
}

// NewKey is a key just created, with its secret, shown once and never
// stored.
type NewKey struct {
	Key
	Secret string `json:"key"`
}

const keyColumns = `id, name, prefix, tenants, created_at, revoked_at`

// CreateKey issues an events key for the given tenants (nil or empty: all
// tenants). name defaults to "events key". It returns EINVALID for a bad
// name and ENOTFOUND for a tenant that does not exist.
func CreateKey(ctx context.Context, db *store.DB, name string, tenants []string, actor string) (*NewKey, error) {
	if name = strings.TrimSpace(name); name == "" {
		name = "events key"
	}
	if err := app.CheckName("the key's name", name, 100); err != nil {
		return nil, err
	}
	var scope any // NULL: all tenants
	if len(tenants) > 0 {
		scope = pq.Array(tenants)
	}
	secret, err := app.NewSecret(KeyPrefix)
	if err != nil {
		return nil, err
	}
	k := NewKey{Secret: secret}
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		for _, id := range tenants {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM control.tenants WHERE id = $1`, id); err != nil {
				return err
			}
			if n == 0 {
				return app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
			}
		}
		const q = `INSERT INTO control.event_keys (id, name, key_hash, prefix, tenants, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + keyColumns
		if err := tx.GetContext(ctx, &k.Key, q, uuid.New(), name, app.HashSecret(k.Secret), k.Secret[:len(KeyPrefix)+8], scope, actor); err != nil {
			return fmt.Errorf("create events key: %w", err)
		}
		return audit.Record(ctx, tx, actor, "events.key.create", "", map[string]any{"key_id": k.ID, "prefix": k.Prefix, "tenants": tenants})
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// FindKeys lists the events keys, newest first.
func FindKeys(ctx context.Context, db *store.DB) ([]*Key, error) {
	var ks []*Key
	const q = `SELECT ` + keyColumns + ` FROM control.event_keys ORDER BY created_at DESC, id`
	if err := db.SelectContext(ctx, &ks, q); err != nil {
		return nil, fmt.Errorf("find events keys: %w", store.Unavailable(err))
	}
	return ks, nil
}

// RevokeKey revokes an events key at once. It returns ENOTFOUND for an
// unknown key; revoking twice is not an error.
func RevokeKey(ctx context.Context, db *store.DB, keyID, actor string) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return app.Errorf(app.ENOTFOUND, "events key %q not found", keyID)
	}
	return db.Transact(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE control.event_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("revoke events key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return app.Errorf(app.ENOTFOUND, "events key %q not found", keyID)
		}
		return audit.Record(ctx, tx, actor, "events.key.revoke", "", map[string]any{"key_id": id})
	})
}

// AuthenticateKey returns the events key a secret is. Unknown, malformed
// and revoked keys all give the same EUNAUTHORIZED.
func AuthenticateKey(ctx context.Context, db *store.DB, secret string) (*Key, error) {
	unauthorized := app.Refusef(app.EUNAUTHORIZED, app.ReasonAuth, "invalid or revoked events key")
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 100 {
		return nil, unauthorized
	}
	var k Key
	const q = `SELECT ` + keyColumns + ` FROM control.event_keys WHERE key_hash = $1 AND revoked_at IS NULL`
	err := db.GetContext(ctx, &k, q, app.HashSecret(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate events key: %w", store.Unavailable(err))
	}
	return &k, nil
}
