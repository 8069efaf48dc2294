package tenant

import (
	"cmp"
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
	Sort   string // one of Sorts; default SortAttention
	Asc    bool   // reverse the sort's natural order (see Sorts)
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

// Sorts of SearchTenants, each in its natural order: attention puts the
// worst health first (failing, warn, suspended, ok, as insight.Assess
// grades it), users, requests and activity put the largest or latest
// first, name goes A to Z. Ties go by id. Users, requests and activity read
// control.tenant_rollups (kept by insight.Rollups), so that sorting 10,000
// tenants never visits their schemas; tenants not yet counted come last.
const (
	SortAttention = "attention"
	SortName      = "name"
	SortUsers     = "users"
	SortRequests  = "requests"
	SortActivity  = "activity"
)

// sortOrders maps each sort to its ORDER BY in natural order and reversed.
// $6 is the latest tenant schema version.
var sortOrders = map[string][2]string{
	SortAttention: {severity + ` DESC`, severity + ` ASC`},
	SortName:      {`lower(t.name) ASC`, `lower(t.name) DESC`},
	SortUsers:     {`x.users DESC NULLS LAST`, `x.users ASC NULLS LAST`},
	SortRequests:  {`COALESCE(x.requests_24h, 0) DESC`, `COALESCE(x.requests_24h, 0) ASC`},
	SortActivity:  {`x.last_activity DESC NULLS LAST`, `x.last_activity ASC NULLS LAST`},
}

// severity grades a tenant as insight.Assess does, from its control rows
// and its stored counts: 3 failing, 2 warn, 1 suspended (info), 0 ok.
// web's TestTenantListAt10000/AttentionFirstMatchesAssess keeps the two in step.
const severity = `(CASE
	WHEN t.trial_ends_at <= now() OR (t.status = 'active' AND COALESCE(k.active_tokens, 0) = 0) THEN 3
	WHEN t.trial_ends_at < now() + interval '3 days' OR t.schema_version < $6::int
		OR (p.max_users > 0 AND x.users * 10 >= p.max_users * 9)
		OR (p.max_groups > 0 AND x.groups * 10 >= p.max_groups * 9) THEN 2
	WHEN t.status = 'suspended' THEN 1
	ELSE 0 END)`

// ValidSort reports whether s names one of the sorts of SearchTenants.
func ValidSort(s string) bool { _, ok := sortOrders[s]; return ok }

// TenantPage is one page of SearchTenants and how many tenants match in all.
type TenantPage struct {
	Tenants []*TenantSummary `json:"tenants"`
	Total   int              `json:"total"`
}

// SearchTenants returns the tenants matching f, in the order of f.Sort, one
// page. It returns EINVALID for an unknown sort.
func (s *Service) SearchTenants(ctx context.Context, f TenantFilter) (*TenantPage, error) {
	if f.Limit <= 0 {
		f.Limit = 25
	}
	f.Limit = min(f.Limit, 1000)
	f.Offset = max(f.Offset, 0)
	order, ok := sortOrders[cmp.Or(f.Sort, SortAttention)]
	if !ok {
		return nil, app.Errorf(app.EINVALID, "unknown sort %q: use attention, name, users, requests or activity", f.Sort)
	}
	by := order[0]
	if f.Asc {
		by = order[1]
	}
	like := "%" + escapeLike(strings.ToLower(strings.TrimSpace(f.Query))) + "%"
	const where = `
		WHERE ($1 = '%%' OR t.id LIKE $1 OR lower(t.name) LIKE $1)
		  AND ($2 = '' OR t.status = $2)
		  AND ($3 = '' OR t.plan = $3)`
	var page TenantPage
	if err := s.DB.GetContext(ctx, &page.Total, `SELECT count(*) FROM control.tenants t`+where, like, f.Status, f.Plan); err != nil {
		return nil, fmt.Errorf("count tenants: %w", store.Unavailable(err))
	}
	args := []any{like, f.Status, f.Plan, f.Limit, f.Offset}
	if strings.Contains(by, "$6") {
		args = append(args, store.LatestVersion(s.Migrations))
	}
	// The page's ids first, ordered over every matching tenant with only
	// what the order needs (the join of tokens is removed by the planner
	// unless the order reads it); then the page's summaries.
	q := `WITH page AS (
		SELECT t.id, row_number() OVER (ORDER BY ` + by + `, t.id) AS n
		FROM control.tenants t JOIN control.tenant_permissions p ON p.tenant_id = t.id
		LEFT JOIN (
			SELECT tenant_id, count(*) AS active_tokens FROM control.tokens
			WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) GROUP BY tenant_id
		) k ON k.tenant_id = t.id
		LEFT JOIN control.tenant_rollups x ON x.tenant_id = t.id` + where + `
		ORDER BY ` + by + `, t.id LIMIT $4 OFFSET $5)` +
		summarySelect + ` JOIN page ON page.id = t.id ORDER BY page.n`
	err := s.DB.SelectContext(ctx, &page.Tenants, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search tenants: %w", store.Unavailable(err))
	}
	return &page, nil
}

// summarySelect reads the tenant, its limits and its tokens (alias k, so
// that an ORDER BY can use them).
const summarySelect = `
	SELECT t.id, t.name, t.plan, t.status, t.isolation, t.trial_ends_at, t.schema_version, t.created_at, t.updated_at,
		p.max_users, p.max_groups, k.active_tokens, k.last_token_use
	FROM control.tenants t JOIN control.tenant_permissions p ON p.tenant_id = t.id
	CROSS JOIN LATERAL (
		SELECT count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active_tokens,
			max(last_used_at) AS last_token_use
		FROM control.tokens WHERE tenant_id = t.id
	) k`

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
