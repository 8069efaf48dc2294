package tenant

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

// TokenPrefix starts every SCIM token, so that secret scanners and people
// recognise one.
const TokenPrefix = "bh_"

// tokenPrefixLen is how much of a token is its public prefix: TokenPrefix
// and 8 more characters, stored and listed with the token.
const tokenPrefixLen = len(TokenPrefix) + 8

// Token is a SCIM bearer token as listed: never the secret itself.
type Token struct {
	ID         uuid.UUID  `db:"id" json:"token_id"`
	TenantID   string     `db:"tenant_id" json:"tenant_id"`
	Name       string     `db:"name" json:"name"`
	Prefix     string     `db:"prefix" json:"prefix"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `db:"expires_at" json:"expires_at,omitempty"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
}

// TokenExpiryWarning is how long before its expiry a token is flagged, in
// the console and by the tenant's health checks: time enough to issue a new
// one and update the identity provider.
const TokenExpiryWarning = 14 * 24 * time.Hour

// Usable reports whether the token still authenticates at now: neither
// revoked nor expired.
func (t *Token) Usable(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || t.ExpiresAt.After(now))
}

// Expired reports whether the token has passed its expiry at now.
func (t *Token) Expired(now time.Time) bool { return t.ExpiresAt != nil && !t.ExpiresAt.After(now) }

// ExpiresSoon reports whether the token is usable at now but expires
// within TokenExpiryWarning.
func (t *Token) ExpiresSoon(now time.Time) bool {
	return t.Usable(now) && t.ExpiresAt != nil && t.ExpiresAt.Sub(now) < TokenExpiryWarning
}

// NewToken is a token just created, with its secret, which is shown once and
// never stored.
type NewToken struct {
	Token
	Secret string `json:"token"`
}

func createToken(ctx context.Context, tx *sqlx.Tx, tenantID, name string, expires *time.Time) (*NewToken, error) {
	secret, err := app.NewSecret(TokenPrefix)
	if err != nil {
		return nil, err
	}
	t := NewToken{Secret: secret}
	const q = `
		INSERT INTO control.tokens (id, tenant_id, name, prefix, hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, tenant_id, name, prefix, created_at, last_used_at, expires_at, revoked_at`
	if err := tx.GetContext(ctx, &t.Token, q, uuid.New(), tenantID, name, secret[:tokenPrefixLen], app.HashSecret(secret), expires); err != nil {
		return nil, fmt.Errorf("create token for %q: %w", tenantID, err)
	}
	return &t, nil
}

// MaxTokenNameLength is the most characters a SCIM token's name may have.
const MaxTokenNameLength = 100

// CreateToken issues a new SCIM token for the tenant. name defaults to
// "token"; expires may be nil. It returns ENOTFOUND for an unknown tenant and
// EINVALID for an expiry in the past or a name CheckName refuses.
func (s *Service) CreateToken(ctx context.Context, tenantID, name string, expires *time.Time, actor string) (*NewToken, error) {
	if name = strings.TrimSpace(name); name == "" {
		name = "token"
	}
	if err := app.CheckName("the token's name", name, MaxTokenNameLength); err != nil {
		return nil, err
	}
	if expires != nil && !expires.After(time.Now()) {
		return nil, app.Errorf(app.EINVALID, "the expiry must be in the future")
	}
	var tok *NewToken
	err := s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := requireTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		var err error
		if tok, err = createToken(ctx, tx, tenantID, name, expires); err != nil {
			return err
		}
		details := map[string]any{"token_id": tok.ID, "name": name, "prefix": tok.Prefix}
		if expires != nil {
			details["expires_at"] = tok.ExpiresAt
		}
		return audit.Record(ctx, tx, actor, "token.create", tenantID, details)
	})
	return tok, err
}

// RevokeToken revokes one of the tenant's tokens. Revoking a revoked token
// changes nothing and records no audit event: revoked is false, so that the
// caller can say "already revoked". It returns ENOTFOUND for an unknown
// tenant, and when the tenant has no such token.
func (s *Service) RevokeToken(ctx context.Context, tenantID, tokenID, actor string) (revoked bool, err error) {
	err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := requireTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		id, err := uuid.Parse(tokenID)
		if err != nil {
			return app.Errorf(app.ENOTFOUND, "token %q of tenant %q not found", tokenID, tenantID)
		}
		// FOR UPDATE: of two revocations at once, one is audited.
		var revokedAt *time.Time
		const find = `SELECT revoked_at FROM control.tokens WHERE id = $1 AND tenant_id = $2 FOR UPDATE`
		if err := tx.GetContext(ctx, &revokedAt, find, id, tenantID); errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "token %q of tenant %q not found", tokenID, tenantID)
		} else if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if revokedAt != nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE control.tokens SET revoked_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		revoked = true
		return audit.Record(ctx, tx, actor, "token.revoke", tenantID, map[string]any{"token_id": id})
	})
	return revoked, err
}

// FindTokens lists the tenant's tokens, newest first.
func (s *Service) FindTokens(ctx context.Context, tenantID string) ([]*Token, error) {
	var ts []*Token
	const q = `SELECT id, tenant_id, name, prefix, created_at, last_used_at, expires_at, revoked_at
		FROM control.tokens WHERE tenant_id = $1 ORDER BY created_at DESC`
	if err := s.DB.SelectContext(ctx, &ts, q, tenantID); err != nil {
		return nil, fmt.Errorf("find tokens of %q: %w", tenantID, store.Unavailable(err))
	}
	return ts, nil
}

// TokenPrefixLen is how many characters of a token are its public prefix.
const TokenPrefixLen = tokenPrefixLen
