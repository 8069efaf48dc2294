package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// TenantFilter selects tenants for SearchTenants. Empty fields match all.
type TenantFilter struct {
	Query  string // part of the id or the name, case-insensitive
	Status string
	Plan   string
	Offset int
	Limit  int // default 25, at most 1000
}

// TenantSummary is a tenant as listed in the console: its control rows and
// the limits and token facts that need no visit to its schema.
type TenantSummary struct {
	Tenant
	MaxUsers     int        `db:"max_users" json:"max_users"`
	MaxGroups    int        `db:"max_groups" json:"max_groups"`
	ActiveTokens int        `db:"active_tokens" json:"active_tokens"`
	LastTokenUse *time.Time `db:"last_token_use" json:"last_token_use,omitempty"`
}

// TenantPage is one page of SearchTenants and how many tenants match in all.
type TenantPage struct {
	Tenants []*TenantSummary `json:"tenants"`
	Total   int              `json:"total"`
}

// SearchTenants returns the tenants matching f, ordered by id, one page.
func (s *Service) SearchTenants(ctx context.Context, f TenantFilter) (*TenantPage, error) {
	if f.Limit <= 0 {
		f.Limit = 25
	}
	f.Limit = min(f.Limit, 1000)
	f.Offset = max(f.Offset, 0)
	like := "%" + escapeLike(strings.ToLower(strings.TrimSpace(f.Query))) + "%"
	const where = `
		WHERE (t.id LIKE $1 OR lower(t.name) LIKE $1)
		  AND ($2 = '' OR t.status = $2)
		  AND ($3 = '' OR t.plan = $3)`
	var page TenantPage
	if err := s.DB.GetContext(ctx, &page.Total, `SELECT count(*) FROM control.tenants t`+where, like, f.Status, f.Plan); err != nil {
		return nil, fmt.Errorf("count tenants: %w", store.Unavailable(err))
	}
	const q = summarySelect + where + ` ORDER BY t.id LIMIT $4 OFFSET $5`
	if err := s.DB.SelectContext(ctx, &page.Tenants, q, like, f.Status, f.Plan, f.Limit, f.Offset); err != nil {
		return nil, fmt.Errorf("search tenants: %w", store.Unavailable(err))
	}
	return &page, nil
}

const summarySelect = `
	SELECT t.id, t.name, t.plan, t.status, t.isolation, t.trial_ends_at, t.schema_version, t.created_at, t.updated_at,
		p.max_users, p.max_groups,
		(SELECT count(*) FROM control.tokens k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL
			AND (k.expires_at IS NULL OR k.expires_at > now())) AS active_tokens,
		(SELECT max(k.last_used_at) FROM control.tokens k WHERE k.tenant_id = t.id) AS last_token_use
	FROM control.tenants t JOIN control.tenant_permissions p ON p.tenant_id = t.id`

// FindTenantSummary returns one tenant as SearchTenants lists it, or
// ENOTFOUND.
func (s *Service) FindTenantSummary(ctx context.Context, id string) (*TenantSummary, error) {
	var t TenantSummary
	err := s.DB.GetContext(ctx, &t, summarySelect+` WHERE t.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find tenant %q: %w", id, store.Unavailable(err))
	}
	return &t, nil
}

// escapeLike escapes the LIKE wildcards in s, so that a search for "a_b"
// finds "a_b" and not "axb".
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
