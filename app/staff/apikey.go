package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// APIKeyPrefix starts every staff API key, so that people and secret
// scanners tell it from a SCIM token (bh_).
const APIKeyPrefix = "bhk_"

// APIKey is a key for the admin JSON API as listed: never the secret. It
// acts with the role of the account it belongs to.
type APIKey struct {
	ID         uuid.UUID  `db:"id" json:"id"`
	StaffID    uuid.UUID  `db:"staff_id" json:"staff_id"`
	Name       string     `db:"name" json:"name"`
	Prefix     string     `db:"prefix" json:"prefix"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
}

// NewAPIKey is a key just created, with its secret, shown once and never
// stored.
type NewAPIKey struct {
	APIKey
	Secret string `json:"key"`
}

const apiKeyColumns = `id, staff_id, name, prefix, created_at, last_used_at, revoked_at`

// MaxAPIKeyNameLength is the most characters an API key's name may have.
const MaxAPIKeyNameLength = 100

// CreateAPIKey issues an API key for the account staffID. name defaults to
// "api key". It returns ENOTFOUND for an unknown account, ECONFLICT for a
// disabled one and EINVALID for a name CheckName refuses.
func CreateAPIKey(ctx context.Context, db *store.DB, staffID uuid.UUID, name, actor string) (*NewAPIKey, error) {
	if name = strings.TrimSpace(name); name == "" {
		name = "api key"
	}
	if err := app.CheckName("the key's name", name, MaxAPIKeyNameLength); err != nil {
		return nil, err
	}
	secret, err := app.NewSecret(APIKeyPrefix)
	if err != nil {
		return nil, err
	}
	k := NewAPIKey{Secret: secret}
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var st struct {
			Email    string `db:"email"`
			Disabled bool   `db:"disabled"`
		}
		err := tx.GetContext(ctx, &st, `SELECT email, disabled_at IS NOT NULL AS disabled FROM control.staff WHERE id = $1`, staffID)
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "staff account not found")
		} else if err != nil {
			return err
		}
		if st.Disabled {
			return app.Errorf(app.ECONFLICT, "%s is disabled: enable the account first", st.Email)
		}
		email := st.Email
		const q = `INSERT INTO control.staff_api_keys (id, staff_id, name, prefix, hash)
			VALUES ($1, $2, $3, $4, $5) RETURNING ` + apiKeyColumns
		if err := tx.GetContext(ctx, &k.APIKey, q, uuid.New(), staffID, name, k.Secret[:len(APIKeyPrefix)+8], app.HashSecret(k.Secret)); err != nil {
			return fmt.Errorf("create api key: %w", err)
		}
		return audit.Record(ctx, tx, actor, "staff.api_key.create", "", map[string]any{"email": email, "key_id": k.ID, "prefix": k.Prefix})
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// FindAPIKeys lists the account's keys, newest first.
func FindAPIKeys(ctx context.Context, db *store.DB, staffID uuid.UUID) ([]*APIKey, error) {
	var ks []*APIKey
	const q = `SELECT ` + apiKeyColumns + ` FROM control.staff_api_keys WHERE staff_id = $1 ORDER BY created_at DESC`
	if err := db.SelectContext(ctx, &ks, q, staffID); err != nil {
		return nil, fmt.Errorf("find api keys: %w", store.Unavailable(err))
	}
	return ks, nil
}

// RevokeAPIKey revokes one of the account's keys. It returns ENOTFOUND when
// the account has no such key; revoking twice is not an error.
func RevokeAPIKey(ctx context.Context, db *store.DB, staffID uuid.UUID, keyID, actor string) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return app.Errorf(app.ENOTFOUND, "api key %q not found", keyID)
	}
	return db.Transact(ctx, func(tx *sqlx.Tx) error {
		const q = `UPDATE control.staff_api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND staff_id = $2`
		res, err := tx.ExecContext(ctx, q, id, staffID)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return app.Errorf(app.ENOTFOUND, "api key %q not found", keyID)
		}
		return audit.Record(ctx, tx, actor, "staff.api_key.revoke", "", map[string]any{"key_id": id})
	})
}

// AuthenticateAPIKey returns the account an API key belongs to and stamps
// the key's last use. Unknown, malformed and revoked keys, and the keys of a
// disabled account, all give the same EUNAUTHORIZED.
func AuthenticateAPIKey(ctx context.Context, db *store.DB, secret string) (*Staff, error) {
	unauthorized := app.Errorf(app.EUNAUTHORIZED, "invalid or revoked API key")
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 100 {
		return nil, unauthorized
	}
	var s Staff
	const q = `
		UPDATE control.staff_api_keys k SET last_used_at = now()
		FROM control.staff s
		WHERE k.hash = $1 AND k.revoked_at IS NULL AND s.id = k.staff_id AND s.disabled_at IS NULL
		RETURNING s.id, s.email, s.role, s.created_at, s.last_sign_in_at, s.disabled_at`
	err := db.GetContext(ctx, &s, q, app.HashSecret(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate api key: %w", store.Unavailable(err))
	}
	return &s, nil
}
