package directory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestCreateRoundTrips: a User create costs two round trips to the
// database, BEGIN with its settings and one statement carrying its row,
// emails, counter, audit record, event and COMMIT (three behind a
// transaction pooler, where COMMIT goes alone), whatever the tenant's
// isolation; and it returns what a GET returns after, as its event tells
// it. A conflict and a quota refusal cost no more and leave nothing.
func TestCreateRoundTrips(t *testing.T) {
	want := int64(2)
	if os.Getenv("BULKHEAD_TRANSACTION_POOLER") == "on" {
		want = 3 // COMMIT on its own
	}
	ctx := context.Background()
	db := storetest.NewDB(t) // a pool of its own, whose round trips are this test's
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			quota := 5
			f := newTenantIn(t, db, func(nt *tenant.NewTenant) { nt.Strict, nt.MaxUsers = strict, &quota })
			tn, c, svc := f.tenant, f.caller, f.svc
			create := func(name string) (*scim.Resource, int64, error) {
				before := db.RoundTrips()
				r, err := svc.Create(ctx, c, scim.UserResource, map[string]any{
					"schemas": []any{scim.UserResource.Schema}, "userName": name, "name": map[string]any{"givenName": "Ada"},
					"emails": []any{map[string]any{"value": name + "@example.com", "type": "work", "primary": true}},
				})
				return r, db.RoundTrips() - before, err
			}
			if _, _, err := create("first"); err != nil { // learns that the tenant has its outbox
				t.Fatal(err)
			}
			for _, name := range []string{"ada", "bob", "cyd"} {
				r, trips, err := create(name)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("create %s: %d round trips", name, trips)
				if trips > want {
					t.Errorf("create %s: %d round trips, want at most %d", name, trips, want)
				}
				got, _ := json.Marshal(r.Render(c.BaseURL))
				g, err := svc.Get(ctx, c, scim.UserResource, r.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				read, _ := json.Marshal(g.Render(c.BaseURL))
				if string(got) != string(read) {
					t.Errorf("create returned\n%s\nGET returns\n%s", got, read)
				}
				evs, err := events.FindTenantEvents(ctx, db, tn.Scope(), 0, 100, []string{events.UserCreated})
				if err != nil {
					t.Fatal(err)
				}
				var data any
				for _, e := range evs {
					var d map[string]any
					_ = json.Unmarshal(e.Data, &d)
					if d["id"] == r.ID {
						data = d
					}
				}
				var wantData any
				_ = json.Unmarshal(read, &wantData)
				if fmt.Sprint(data) != fmt.Sprint(wantData) {
					t.Errorf("user.created data %v, want %v", data, wantData)
				}
			}
			if _, trips, err := create("ADA"); app.ErrorCode(err) != app.ECONFLICT || trips > want {
				t.Errorf("taken userName: %v in %d round trips, want a conflict in at most %d", err, trips, want)
			}
			if _, _, err := create("dee"); err != nil {
				t.Fatal(err)
			}
			if _, trips, err := create("eve"); app.ErrorCode(err) != app.EFORBIDDEN || trips > want {
				t.Errorf("past the quota: %v in %d round trips, want a refusal in at most %d", err, trips, want)
			}
			// A Bulk of user creations: one statement for the run, whatever
			// its length (its savepoint travels with it), the failed one
			// created alone for its error, the counters right after.
			c = f.with(func(p *tenant.Permissions) { p.MaxUsers = 100 })
			ops := []string{postUser("a", "bulk-a"), postUser("dup", "ADA"), postUser("b", "bulk-b")}
			for i := range 10 {
				ops = append(ops, postUser(fmt.Sprint(i), fmt.Sprint("bulk-", i)))
			}
			before := db.RoundTrips()
			res, err := svc.Bulk(ctx, c, bulkBody(t, 0, ops...))
			if err != nil {
				t.Fatal(err)
			}
			trips := db.RoundTrips() - before
			t.Logf("Bulk of %d creations: %d round trips", len(ops), trips)
			// BEGIN, the counter of users and the events' sequence locked,
			// the run's statement, the failed one alone and its rollback to
			// its savepoint, the two written back, COMMIT. Behind a pooler
			// each savepoint goes on its own, and COMMIT too.
			if wantBulk := int64(9) + 3*(want-2); trips > wantBulk {
				t.Errorf("Bulk of %d creations: %d round trips, want at most %d", len(ops), trips, wantBulk)
			}
			for i, r := range res {
				if (r.Err == nil) != (i != 1) {
					t.Errorf("operation %d: %v", i, r.Err)
				}
			}
			quota += len(ops) - 1
			l, err := svc.List(ctx, c, scim.UserResource, directory.Query{Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			if l.Total != quota {
				t.Errorf("%d users after a conflict and a refusal, want %d", l.Total, quota)
			}
		})
	}
}

// TestSearchRoundTrips: a list that fits in its first page, such as an
// identity provider's "does this user exist?" filter, costs one round
// trip to the database (three behind a transaction pooler: BEGIN with its
// settings, the statement, COMMIT), found or not; and it returns what the
// general way returns, which a list of more than one page takes: the same
// resources, memberships included, in the same order, and the same total.
func TestSearchRoundTrips(t *testing.T) {
	want := int64(1)
	if os.Getenv("BULKHEAD_TRANSACTION_POOLER") == "on" {
		want = 3
	}
	ctx := context.Background()
	db := storetest.NewDB(t)
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			f := newTenantIn(t, db, func(nt *tenant.NewTenant) { nt.Strict = strict })
			c, svc := f.caller, f.svc
			// Five users; groups b, a and c, so that a user's groups are
			// ordered by name, not by creation; ada in all three.
			res, err := svc.Bulk(ctx, c, bulkBody(t, 0,
				postUser("u1", "ada"), postUser("u2", "bob"), postUser("u3", "cyd"), postUser("u4", "dee"), postUser("u5", "eve"),
				postGroup("g1", "b-team", "bulkId:u1", "bulkId:u2"), postGroup("g2", "a-team", "bulkId:u1"), postGroup("g3", "c-team", "bulkId:u1", "bulkId:u3", "bulkId:u4")))
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("operation %d: %v", i, r.Err)
				}
			}
			list := func(rt *scim.ResourceType, q directory.Query) (total int, rendered []string, trips int64) {
				t.Helper()
				before := db.RoundTrips()
				page, err := svc.List(ctx, c, rt, q)
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				trips = db.RoundTrips() - before
				for _, r := range page.Resources {
					b, _ := json.Marshal(r.Render(c.BaseURL))
					rendered = append(rendered, string(b))
				}
				return page.Total, rendered, trips
			}
			for _, f := range []string{`userName eq "ada"`, `userName eq "zed"`, `externalId eq "x" or userName sw "d"`} {
				total, _, trips := list(scim.UserResource, directory.Query{Filter: f, Count: 100})
				t.Logf("%s: %d found in %d round trips", f, total, trips)
				if trips > want {
					t.Errorf("%s: %d round trips, want at most %d", f, trips, want)
				}
			}
			for _, q := range []directory.Query{
				{},
				{SortBy: "userName", SortOrder: "descending"},
				{Filter: `userName ne "bob"`, SortBy: "userName"},
				{Filter: `displayName co "team"`, SortBy: "displayName", SortOrder: "descending"},
			} {
				rt := scim.UserResource
				if q.Filter != "" && q.Filter[0] == 'd' {
					rt = scim.GroupResource
				}
				q.Count = 10
				total, whole, trips := list(rt, q)
				if trips > want {
					t.Errorf("%+v: %d round trips, want at most %d", q, trips, want)
				}
				// One at a time: the first page is not the whole list, so
				// every page goes the general way.
				var paged []string
				for i := 1; i <= len(whole); i++ {
					q.StartIndex, q.Count = i, 1
					n, r, _ := list(rt, q)
					if n != total {
						t.Errorf("%+v: total %d, want %d", q, n, total)
					}
					paged = append(paged, r...)
				}
				if len(whole) < 3 || strings.Join(paged, "\n") != strings.Join(whole, "\n") {
					t.Errorf("%s %+v: in one page\n%s\none at a time\n%s", rt.Name, q, strings.Join(whole, "\n"), strings.Join(paged, "\n"))
				}
			}
		})
	}
}

// TestUpdateRoundTrips: a PATCH or PUT of a user with emails, and a PATCH
// adding a group member, stay within their round trips to the database:
// the row is locked and read in one statement, and a user's emails are
// replaced in the statement that updates the user.
func TestUpdateRoundTrips(t *testing.T) {
	pooler := os.Getenv("BULKHEAD_TRANSACTION_POOLER") == "on"
	ctx := context.Background()
	db := storetest.NewDB(t)
	f := newTenantIn(t, db)
	c, svc := f.caller, f.svc
	user := func(name, email string) map[string]any {
		return map[string]any{"schemas": []any{scim.UserResource.Schema}, "userName": name,
			"emails": []any{map[string]any{"value": email, "type": "work", "primary": true}}}
	}
	u, err := svc.Create(ctx, c, scim.UserResource, user("ada", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Create(ctx, c, scim.UserResource, user("bob", "bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.Create(ctx, c, scim.GroupResource, map[string]any{"schemas": []any{scim.GroupResource.Schema}, "displayName": "team",
		"members": []any{map[string]any{"value": u.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(op string) map[string]any {
		return body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+op+`]}`)
	}
	// Each write runs first on other resources, so that what a connection
	// prepares once is prepared, then on ada and the group, counted.
	w2, err := svc.Create(ctx, c, scim.UserResource, user("cyd", "cyd@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := svc.Create(ctx, c, scim.GroupResource, map[string]any{"schemas": []any{scim.GroupResource.Schema}, "displayName": "other"})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []struct {
		user, name, group string
		counted           bool
	}{{w2.ID, "cyd", g2.ID, false}, {u.ID, "ada", g.ID, true}} {
		for _, w := range []struct {
			name  string
			trips int64
			run   func() error
		}{
			{"PATCH user", 6, func() error {
				_, err := svc.Patch(ctx, c, scim.UserResource, target.user, 0, patch(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"`+target.name+`@example.org"}`), false)
				return err
			}},
			{"PUT user", 7, func() error {
				_, err := svc.Replace(ctx, c, scim.UserResource, target.user, 0, user(target.name, target.name+"@example.net"))
				return err
			}},
			{"PATCH group member", 8, func() error {
				_, err := svc.Patch(ctx, c, scim.GroupResource, target.group, 0, patch(`{"op":"add","path":"members","value":[{"value":"`+v.ID+`"}]}`), false)
				return err
			}},
		} {
			before := db.RoundTrips()
			if err := w.run(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			trips := db.RoundTrips() - before
			if !target.counted {
				continue
			}
			t.Logf("%s: %d round trips", w.name, trips)
			if !pooler && trips > w.trips {
				t.Errorf("%s: %d round trips, want at most %d", w.name, trips, w.trips)
			}
		}
	}
	// The emails as the PUT left them, and only those, are what a filter finds.
	for email, want := range map[string]int{"ada@example.net": 1, "ada@example.org": 0, "ada@example.com": 0} {
		l, err := svc.List(ctx, c, scim.UserResource, directory.Query{Filter: `emails.value eq "` + email + `"`, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != want {
			t.Errorf("users with email %s: %d, want %d", email, l.Total, want)
		}
	}
}
