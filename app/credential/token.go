package credential

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Principal is who a SCIM request acts as: a tenant, through one of its
// credentials, with the tenant's permissions (narrowed by a JWT's scope).
type Principal struct {
	Tenant      tenant.Tenant
	Permissions tenant.Permissions
	Flags       tenant.Flags         // the tenant's SCIM behaviour
	Types       tenant.ResourceTypes // User and Group with the tenant's schema extensions
	TokenID     uuid.UUID            // the opaque token, or the JWT issuer's id
	TokenPrefix string               // the opaque token's prefix, or "jwt:" and the issuer id's first characters
	Kind        string               // CredentialToken, CredentialJWT or CredentialGateway
	Subject     string               // a JWT's sub claim
	// TokenExpires is when the opaque token stops working; nil when it
	// does not expire, and for JWTs and the gateway.
	TokenExpires *time.Time
}

// errUnauthorized is the one answer for every token that does not work.
var errUnauthorized = app.Refusef(app.EUNAUTHORIZED, app.ReasonAuth, "invalid or expired bearer token")

// Authenticate returns the principal a bearer token stands for, reading the
// database every time; Auth caches it. Unknown, malformed, expired and
// revoked tokens all give the same EUNAUTHORIZED, so that a caller learns
// nothing about which tenants or tokens exist. The lookup is by the token's
// hash, so its time does not depend on how much of the secret a guess got
// right.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, tenant.TokenPrefix) || len(secret) > 100 {
		return nil, errUnauthorized
	}
	return s.principal(ctx, app.HashSecret(secret))
}

func (s *Service) principal(ctx context.Context, hash []byte) (*Principal, error) {
	var row struct {
		tenant.Tenant
		tenant.Permissions
		tenant.Flags
		TokenID      uuid.UUID  `db:"token_id"`
		TokenPrefix  string     `db:"token_prefix"`
		TokenExpires *time.Time `db:"token_expires"`
		Extensions   []byte     `db:"extensions"`
	}
	const q = `
		SELECT t.id, t.name, t.plan, t.status, t.isolation, t.trial_ends_at, t.schema_version, t.created_at, t.updated_at,
			p.can_create, p.can_read, p.can_update, p.can_delete, p.can_list,
			p.max_users, p.max_groups, p.requests_per_minute, p.burst, p.bulk_enabled,
			p.soft_delete, p.require_if_match, p.strict_schemas, p.replace_no_target,
			k.id AS token_id, k.prefix AS token_prefix, k.expires_at AS token_expires, ` + tenant.ExtensionsColumn + `
		FROM control.tokens k
		JOIN control.tenants t ON t.id = k.tenant_id
		JOIN control.tenant_permissions p ON p.tenant_id = k.tenant_id
		WHERE k.hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
			AND t.status <> 'deleting'`
	err := s.DB.Control(ctx, func(c sqlx.QueryerContext) error { return sqlx.GetContext(ctx, c, &row, q, hash) })
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", store.Unavailable(err))
	}
	return &Principal{Tenant: row.Tenant, Permissions: row.Permissions, Flags: row.Flags, Types: tenant.ResourceTypesOf(row.Extensions),
		TokenID: row.TokenID, TokenPrefix: row.TokenPrefix, TokenExpires: row.TokenExpires, Kind: CredentialToken}, nil
}

// Presented is what can be told of a bearer credential that did not work,
// without the database and without keeping its secret: for the activity
// feed, which finds out at leisure why it failed (package activity).
type Presented struct {
	Kind     string // CredentialToken, CredentialJWT, or "" for anything else
	Prefix   string // a token's public prefix, as listed with it; "" when it has none
	Hash     []byte // a token's SHA-256, the form stored, to find which token it was
	Issuer   string // a JWT's iss claim, unverified
	TenantID string // a JWT's tenant_id claim, unverified
	Expired  bool   // a JWT's exp has passed, leeway included
}

// Describe tells what kind of credential raw, a bearer credential, is,
// with what may be shown of it: an opaque token's public prefix (never
// more: a string too short to hold a secret past its prefix has none) and
// hash, or a JWT's issuer and tenant claims read without verifying it
// (never its signature). It tells a JWT from a token as authentication
// does.
func Describe(raw string) Presented {
	if strings.HasPrefix(raw, tenant.TokenPrefix) {
		p := Presented{Kind: CredentialToken}
		if len(raw) > 100 {
			return p
		}
		p.Hash = app.HashSecret(raw)
		if len(raw) >= tenant.TokenPrefixLen+16 && tokenChars(raw[len(tenant.TokenPrefix):tenant.TokenPrefixLen]) {
			p.Prefix = raw[:tenant.TokenPrefixLen]
		}
		return p
	}
	if strings.Count(raw, ".") != 2 || len(raw) > maxJWTBytes {
		return Presented{}
	}
	p := Presented{Kind: CredentialJWT}
	var claims jwtClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &claims); err != nil {
		return p
	}
	p.Issuer, p.TenantID = claims.Issuer, claims.TenantID
	p.Expired = claims.ExpiresAt != nil && claims.ExpiresAt.Add(JWTLeeway).Before(time.Now())
	return p
}

// tokenChars reports whether s uses only the characters of a token's
// random part (unpadded base64url).
func tokenChars(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
