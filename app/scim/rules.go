package scim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/scim2/filter-parser/v2"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Rules are the readings of RFC 7643/7644 that identity providers
// disagree on, which a tenant picks (its profile and flags): the zero value
// is Bulkhead's lenient default, what Microsoft Entra ID expects.
type Rules struct {
	// ReplaceNoTarget makes a PATCH replace whose value filter matches
	// nothing fail with noTarget, as RFC 7644 §3.5.2.3 says, instead of
	// adding the value built from the filter.
	ReplaceNoTarget bool
	// DeclaredSchemas makes Normalize refuse, with invalidSyntax, a body
	// that names a schema URN the resource type does not serve, or uses an
	// extension its "schemas" does not list (RFC 7643 §3), instead of
	// ignoring the attribute.
	DeclaredSchemas bool
	// SoftDelete makes a DELETE of a User keep its row, inactive and
	// marked deleted, and hides such users from every read and write but a
	// list whose filter names "active"; a POST with the same userName
	// restores the user under its old id. The tenant's schema must have
	// the users.deleted_at column (tenant migration soft_delete).
	SoftDelete bool
}

// SoftDeleteRetention is how long a soft-deleted user is kept: the next
// soft DELETE in the tenant after that purges it, or the background purge
// (tenant.Purger), whichever comes first.
const SoftDeleteRetention = 30 * 24 * time.Hour

// softUsers reports whether rt is User under SoftDelete.
func (rt *ResourceType) softUsers() bool { return rt.rules.SoftDelete && rt.Is(UserResource) }

// live is the condition, ANDed to a WHERE over rt's table, that hides
// soft-deleted users; "" when there are none to hide.
func (rt *ResourceType) live() string {
	if !rt.softUsers() {
		return ""
	}
	return rt.statements().live
}

// namesActive reports whether the filter expr names the attribute active:
// such a list shows soft-deleted users too (they are inactive).
func namesActive(expr string) bool {
	e, err := parseFilter(expr)
	if err != nil {
		if e, err = parseFilter(quoteBareValues(foldSubAttrFilters(expr))); err != nil {
			return false
		}
	}
	var walk func(e filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			return walk(e.Left) || walk(e.Right)
		case *filter.NotExpression:
			return walk(e.Expression)
		case *filter.AttributeExpression:
			return strings.EqualFold(e.AttributePath.AttributeName, "active")
		}
		return false
	}
	return walk(e)
}

// restoreSQL finds the soft-deleted user a create with this userName
// restores.
const restoreSQL = `SELECT id::text FROM users WHERE lower(user_name) = lower($1) AND deleted_at IS NOT NULL FOR UPDATE`

// softDelete marks the user deleted and inactive, drops its memberships,
// and purges the tenant's users deleted longer than SoftDeleteRetention
// ago.
func softDelete(ctx context.Context, tx *sqlx.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, dropMembershipsSQL, id); err != nil {
		return fmt.Errorf("delete memberships of %s: %w", id, err)
	}
	const q = `UPDATE users SET active = false, data = jsonb_set(data, '{active}', 'false'),
		deleted_at = now(), version = version + 1, last_modified = now() WHERE id = $1`
	if _, err := tx.ExecContext(ctx, q, id); err != nil {
		return fmt.Errorf("soft-delete user %s: %w", id, err)
	}
	_, err := PurgeDeletedUsers(ctx, tx, SoftDeleteRetention, 0)
	return err
}

// PurgeDeletedUsers deletes the users soft-deleted longer than olderThan
// ago (0: all of them), at most limit of them (0: no limit), longest
// deleted first, and returns how many. A limit keeps the transaction
// short however many there are; the caller repeats until fewer than limit
// went.
func PurgeDeletedUsers(ctx context.Context, tx *sqlx.Tx, olderThan time.Duration, limit int) (int64, error) {
	q := `WITH gone AS (DELETE FROM users WHERE id IN (SELECT id FROM users
			WHERE deleted_at IS NOT NULL AND deleted_at <= now() - $1 * interval '1 second' ORDER BY deleted_at LIMIT $2) RETURNING 1), ` +
		moveCounter("users", "-", "gone") + ` SELECT count(*) FROM gone`
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	var n int64
	if err := tx.GetContext(ctx, &n, q, int64(olderThan/time.Second), lim); err != nil {
		return 0, fmt.Errorf("purge deleted users: %w", err)
	}
	return n, nil
}

// WithRules returns a copy of rt that follows r; rt itself is unchanged.
func (rt *ResourceType) WithRules(r Rules) *ResourceType {
	if rt.rules == r {
		return rt
	}
	c := *rt
	c.rules = r
	return &c
}

// checkDeclared returns EINVALID (invalidSyntax) when body's "schemas"
// lists a URN rt does not serve, or a key of body is a URN, or is
// prefixed by one, that rt does not serve or "schemas" does not list.
func (rt *ResourceType) checkDeclared(body map[string]any) error {
	declared := map[string]bool{}
	for key, v := range body {
		if !strings.EqualFold(key, "schemas") {
			continue
		}
		list, _ := v.([]any)
		for _, u := range list {
			u, _ := u.(string)
			s := rt.schemaByURN(u)
			if s == nil {
				return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "schema %q is not served for %s resources", truncate(u), rt.Name)
			}
			declared[s.ID] = true
		}
	}
	for key := range body {
		if len(key) < 4 || !strings.EqualFold(key[:4], "urn:") {
			continue
		}
		s := rt.schemaByURN(key)
		if s == nil {
			if s, _ = rt.splitURN(key); s == rt.core && !strings.HasPrefix(strings.ToLower(key), strings.ToLower(rt.core.ID)+":") {
				return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "attribute %q names a schema not served for %s resources", truncate(key), rt.Name)
			}
		}
		if !declared[s.ID] {
			return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "attribute %q uses schema %q, which \"schemas\" does not list", truncate(key), s.ID)
		}
	}
	return nil
}
