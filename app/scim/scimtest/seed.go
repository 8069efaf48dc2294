// Package scimtest fills tenants with SCIM data for tests and benchmarks.
package scimtest

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// SeedUsers inserts n users with two emails each and n/10 groups, half the
// users in one group each, then analyzes the tables.
func SeedUsers(ctx context.Context, db *store.DB, scope store.Scope, n int) error {
	stmts := []string{`
		INSERT INTO users (id, user_name, external_id, display_name, active, data)
		SELECT gen_random_uuid(), 'user' || lpad(i::text, 6, '0'), 'ext-' || i, 'User ' || i, i % 10 <> 0,
			jsonb_build_object(
				'schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
				'userName', 'user' || lpad(i::text, 6, '0'),
				'displayName', 'User ' || i,
				'active', i % 10 <> 0,
				'name', jsonb_build_object('givenName', 'Given' || i, 'familyName', 'Family' || (i % 997)),
				'emails', jsonb_build_array(
					jsonb_build_object('value', 'user' || i || '@company' || (i % 50) || '.example', 'type', 'work', 'primary', true),
					jsonb_build_object('value', 'home' || i || '@mail.example', 'type', 'home')))
		FROM generate_series(1, $1::int) AS i`, `
		INSERT INTO user_emails (user_id, value, type, is_primary)
		SELECT id, e->>'value', e->>'type', COALESCE((e->>'primary')::boolean, false)
		FROM users, jsonb_array_elements(data->'emails') AS e
		WHERE $1::int > 0`, `
		INSERT INTO groups (id, display_name, data)
		SELECT gen_random_uuid(), 'Group ' || g, jsonb_build_object('displayName', 'Group ' || g)
		FROM generate_series(1, greatest($1::int / 10, 1)) AS g`, `
		INSERT INTO group_members (group_id, member_id, member_type)
		SELECT g.id, u.id, 'User'
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM groups) g
		JOIN (SELECT id, row_number() OVER (ORDER BY id) AS r FROM users) u
			ON u.r % greatest($1::int / 10, 1) = g.r - 1 AND u.r <= $1::int / 2`,
	}
	// Seeding is bulk work, not a request: no time limit.
	scope.Timeout = -1
	return db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, n); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, scim.Recount+`; ANALYZE users; ANALYZE user_emails; ANALYZE groups; ANALYZE group_members`)
		return err
	})
}
