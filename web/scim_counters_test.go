package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// counterCheck returns a function that fails the test unless the tenant's
// counters and its rows both hold the given numbers of users, groups and
// group memberships.
func counterCheck(t *testing.T, tenantID string) func(step string, users, groups, members int64) {
	return func(step string, users, groups, members int64) {
		t.Helper()
		var counted, rows [3]int64
		err := env.db.InTenant(context.Background(), store.Scope{TenantID: tenantID}, func(tx *sqlx.Tx) error {
			return tx.QueryRowContext(context.Background(), `SELECT
				(SELECT value FROM counters WHERE name = 'users'), (SELECT value FROM counters WHERE name = 'groups'),
				(SELECT value FROM counters WHERE name = 'group_members'),
				(SELECT count(*) FROM users), (SELECT count(*) FROM groups), (SELECT count(*) FROM group_members)`).
				Scan(&counted[0], &counted[1], &counted[2], &rows[0], &rows[1], &rows[2])
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := [3]int64{users, groups, members}; rows != want || counted != want {
			t.Fatalf("after %s: counters %v, rows %v, want %v (users, groups, memberships)", step, counted, rows, want)
		}
	}
}

// TestCountersFollowWrites: the row counters that quotas and usage read
// stay equal to the rows after every kind of write that adds or removes
// users, groups and memberships, including the memberships that go with a
// deleted user or group and the no-op writes that change nothing.
func TestCountersFollowWrites(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	check := counterCheck(t, c.tenant)
	member := func(op, id string) map[string]any {
		return map[string]any{"op": op, "path": "members", "value": []any{map[string]any{"value": id}}}
	}
	patch := func(path string, ops ...map[string]any) {
		t.Helper()
		c.do("PATCH", path, map[string]any{"schemas": []string{patchSchema}, "Operations": ops}).must(t, http.StatusNoContent)
	}

	u1, u2, u3, u4 := c.createUser("u1"), c.createUser("u2"), c.createUser("u3"), c.createUser("u4")
	g1 := c.createGroup("g1", u1, u2)
	g2 := c.createGroup("g2", u3, g1)
	check("creates", 4, 2, 4)
	c.do("POST", "/Users", user("u1")).must(t, http.StatusConflict)
	check("a refused create", 4, 2, 4)

	patch("/Groups/"+g1, member("add", u3), member("add", u1)) // u1 is a member already
	check("PATCH add", 4, 2, 5)
	patch("/Groups/"+g1, map[string]any{"op": "remove", "path": `members[value eq "` + u2 + `"]`})
	check("PATCH remove", 4, 2, 4)
	patch("/Groups/"+g1, member("remove", u4)) // not a member
	check("PATCH remove of a non-member", 4, 2, 4)
	c.do("PUT", "/Groups/"+g2, map[string]any{"schemas": []string{groupSchema}, "displayName": "g2",
		"members": []any{map[string]any{"value": u4}, map[string]any{"value": u3}}}).must(t, http.StatusOK)
	check("PUT members", 4, 2, 4) // g2: u3, g1 → u4, u3
	patch("/Groups/"+g1, map[string]any{"op": "replace", "path": "members", "value": []any{map[string]any{"value": u1}}})
	check("PATCH replace members", 4, 2, 3) // g1: u1, u3 → u1

	c.do("DELETE", "/Users/"+u3, nil).must(t, http.StatusNoContent) // in g2
	check("DELETE of a member", 3, 2, 2)
	c.do("DELETE", "/Groups/"+g2, nil).must(t, http.StatusNoContent) // holds u4
	check("DELETE of a group with members", 3, 1, 1)
	c.do("DELETE", "/Groups/"+g2, nil).must(t, http.StatusNotFound)
	check("DELETE of a deleted group", 3, 1, 1)

	r := c.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": user("bulk-a")},
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{
			"schemas": []string{groupSchema}, "displayName": "bulk-g", "members": []any{map[string]any{"value": "bulkId:a"}, map[string]any{"value": u4}}}},
		map[string]any{"method": "DELETE", "path": "/Users/" + u1},
	))
	if got := statuses(t, r); len(got) != 3 || got[0] != "201" || got[1] != "201" || got[2] != "204" {
		t.Fatalf("bulk statuses %v: %s", got, r.Raw)
	}
	check("Bulk", 3, 2, 2) // u2, u4, bulk-a; g1 (emptied), bulk-g: bulk-a, u4
}

// TestCountersAcrossTheTriggerMigration: a tenant still at the version
// whose triggers count rows is counted once, by its triggers, not also by
// the writes; after tenant migration 005 drops them, the writes count.
func TestCountersAcrossTheTriggerMigration(t *testing.T) {
	setup(t)
	ctx := context.Background()
	old := tenant.NewService(env.db)
	old.Migrations = store.TenantMigrations[:4]
	tn, tok, err := old.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("t%d", env.n.Add(1)), Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"}
	check := counterCheck(t, tn.ID)
	u1 := c.createUser("before")
	g := c.createGroup("g", u1)
	check("writes at version 4", 1, 1, 1)

	if _, failed, err := tenant.NewService(env.db).MigrateTenants(ctx, tenant.MigrateOptions{}); failed > 0 || err != nil {
		t.Fatalf("migrate: %d failed, %v", failed, err)
	}
	check("the migration", 1, 1, 1)
	c.createUser("after")
	c.do("DELETE", "/Groups/"+g, nil).must(t, http.StatusNoContent)
	check("writes at version 5", 2, 0, 0)
}
