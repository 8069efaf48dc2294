// Package activity keeps each tenant's recent SCIM traffic worth a look —
// writes, refused and failed requests, and failed authentications on its
// URLs — for the console's activity feed, live or not, and the admin API.
//
// A Recorder keeps entries in memory, within bounds, and writes them every
// half second in one transaction into control.activity, so that serving a
// request never writes to the database and a feed that polls the table
// sees an entry within about a second. Entries are redacted of personal
// data by the inspector's rules (usage.Redact) before they reach it, and
// never hold a secret: a token is known by its public prefix, a JWT by its
// issuer.
//
// A failed authentication is recorded against the tenant its URL names
// without the server first knowing whether that tenant exists: the flush
// keeps only those of existing tenants and finds out, from the token's
// hash, why it failed (unknown, revoked, expired, another tenant's). The
// client's 401 is therefore the same, in bytes and in time, whatever the
// tenant.
package activity

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Kinds of entry.
const (
	KindWrite = "write" // a create, replace, patch, delete or Bulk that succeeded
	KindError = "error" // any request answered with 400 or more, but 401
	KindAuth  = "auth"  // a request whose credential did not work (401)
)

// Reasons an authentication failed, as far as the server knows it: the
// Reason of a KindAuth entry. Refused requests of other kinds carry their
// usage.Refusal* reason instead.
const (
	ReasonNoCredential  = "no_credential"  // no bearer credential
	ReasonMalformed     = "malformed"      // neither a Bulkhead token nor a JWT
	ReasonUnknownToken  = "unknown_token"  // no such token
	ReasonRevokedToken  = "revoked_token"  // the token was revoked
	ReasonExpiredToken  = "expired_token"  // the token's expiry has passed
	ReasonWrongTenant   = "wrong_tenant"   // a credential of another tenant
	ReasonUnknownIssuer = "unknown_issuer" // a JWT whose iss is not registered for the tenant
	ReasonExpiredJWT    = "expired_jwt"    // a JWT whose exp has passed
	ReasonRejectedJWT   = "rejected_jwt"   // a JWT refused otherwise: signature, audience, claims
	ReasonRejected      = "rejected"       // a credential that works, on a URL that does not fit it
)

// MaxEntries is how many entries of each kind the feed keeps per tenant, so
// that a flood of failed authentications, which anyone can send, never
// pushes the tenant's writes out of it.
const MaxEntries = 500

// Entry is one request as the activity feed shows it. Path and Detail are
// redacted; Credential is a token's public prefix ("bh_1a2b3c4d"), "jwt:"
// and the issuer id's first characters, "gateway", or for a JWT that did
// not work "iss " and its issuer; never a secret.
type Entry struct {
	ID         int64     `db:"id" json:"id"`
	TenantID   string    `db:"tenant_id" json:"tenant_id"`
	At         time.Time `db:"at" json:"at"`
	Kind       string    `db:"kind" json:"kind"`
	RequestID  string    `db:"request_id" json:"request_id"`
	Method     string    `db:"method" json:"method"`
	Path       string    `db:"path" json:"path"`
	Status     int       `db:"status" json:"status"`
	Credential string    `db:"credential" json:"credential,omitempty"`
	Reason     string    `db:"reason" json:"reason,omitempty"`
	ScimType   string    `db:"scim_type" json:"scim_type,omitempty"`
	Detail     string    `db:"detail" json:"detail,omitempty"`
	IdP        string    `db:"idp" json:"idp"`
}

// AuthFailure is a request refused with 401, before anyone knows which
// tenant, if any, it concerns. Entry.TenantID is the tenant the URL names,
// "" when it names none; Reason is what could be told without the database
// (ReasonNoCredential, ReasonMalformed, ReasonExpiredJWT, ReasonRejectedJWT).
type AuthFailure struct {
	Entry
	TokenHash     []byte // the SHA-256 of the opaque token sent, to find it; never stored
	ClaimedTenant string // a JWT's tenant_id claim, unverified
	JWT           bool   // the credential was a JWT
}

const columns = `id, tenant_id, at, kind, request_id, method, path, status, credential, reason, scim_type, detail, idp`

// Find returns the tenant's entries after the id after, oldest first, at
// most limit: what a feed following the tenant has not seen yet. It returns
// EUNAVAILABLE when the database cannot be reached.
func Find(ctx context.Context, q sqlx.QueryerContext, tenantID string, after int64, limit int) ([]Entry, error) {
	const query = `SELECT ` + columns + ` FROM control.activity
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	var es []Entry
	if err := sqlx.SelectContext(ctx, q, &es, query, tenantID, after, limit); err != nil {
		return nil, fmt.Errorf("find activity of %q: %w", tenantID, store.Unavailable(err))
	}
	return es, nil
}

// FindLatest returns the tenant's latest entries, at most limit, oldest
// first. It returns EUNAVAILABLE when the database cannot be reached.
func FindLatest(ctx context.Context, q sqlx.QueryerContext, tenantID string, limit int) ([]Entry, error) {
	const query = `SELECT * FROM (SELECT ` + columns + ` FROM control.activity
		WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2) latest ORDER BY id`
	var es []Entry
	if err := sqlx.SelectContext(ctx, q, &es, query, tenantID, limit); err != nil {
		return nil, fmt.Errorf("find latest activity of %q: %w", tenantID, store.Unavailable(err))
	}
	return es, nil
}

// LastID returns the id of the tenant's latest entry, 0 when it has none:
// where a feed that starts now begins. It returns EUNAVAILABLE when the
// database cannot be reached.
func LastID(ctx context.Context, q sqlx.QueryerContext, tenantID string) (int64, error) {
	var id int64
	const query = `SELECT COALESCE(max(id), 0) FROM control.activity WHERE tenant_id = $1`
	if err := sqlx.GetContext(ctx, q, &id, query, tenantID); err != nil {
		return 0, fmt.Errorf("find the latest activity of %q: %w", tenantID, store.Unavailable(err))
	}
	return id, nil
}
