package directory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestBulkUserRuns: a run of User creations in a Bulk request, created in
// one statement, gives each operation the result it would have had run in
// its turn (RFC 7644 §3.7): a userName taken by a stored user or by an
// earlier operation, an invalid body, a quota reached in the middle each
// fail that operation alone; failOnErrors stops after that many errors;
// later operations refer to the users by bulkId. The database then holds
// exactly the users created, each with its audit record (marked with its
// bulkId) and its user.created event, numbered without gaps in request
// order, and the counter the quota reads agrees.
func TestBulkUserRuns(t *testing.T) {
	t.Parallel()
	invalid := `{"method":"POST","path":"/Users","bulkId":"bad","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"no userName"}}`
	for _, tt := range []struct {
		name         string
		quota        int // users the tenant may hold; 0: many
		failOnErrors int
		ops          []string
		want         string
	}{
		{"conflicts and an invalid one", 0, 0,
			[]string{postUser("u1", "run-1"), postUser("u2", "TAKEN"), postUser("u3", "run-3"), postUser("u4", "RUN-1"), invalid, postUser("u6", "run-6")},
			"POST u1, POST u2 conflict, POST u3, POST u4 conflict, POST bad invalid, POST u6"},
		// The existing user and u1, u3, u4 fill a quota of 4: u2's conflict
		// takes no place, so u4 still fits and u5 does not.
		{"quota reached in the middle", 4, 0,
			[]string{postUser("u1", "q-1"), postUser("u2", "taken"), postUser("u3", "q-3"), postUser("u4", "q-4"), postUser("u5", "q-5")},
			"POST u1, POST u2 conflict, POST u3, POST u4, POST u5 forbidden"},
		{"failOnErrors 1", 0, 1,
			[]string{postUser("u1", "f-1"), postUser("u2", "taken"), postUser("u3", "f-3")},
			"POST u1, POST u2 conflict"},
		{"failOnErrors 2", 0, 2,
			[]string{postUser("u1", "f-1"), postUser("u2", "taken"), postUser("u3", "f-3"), postUser("u4", "F-1"), postUser("u5", "f-5")},
			"POST u1, POST u2 conflict, POST u3, POST u4 conflict"},
		{"failOnErrors 2, an invalid one among conflicts", 0, 2,
			[]string{postUser("u1", "taken"), invalid, postUser("u3", "f-3")},
			"POST u1 conflict, POST bad invalid"},
		{"failOnErrors not reached", 0, 3,
			[]string{postUser("u1", "taken"), postUser("u2", "n-2"), postUser("u3", "N-2"), postUser("u4", "n-4")},
			"POST u1 conflict, POST u2, POST u3 conflict, POST u4"},
		{"bulkId references to the run", 0, 0,
			[]string{postUser("u1", "ref-1"), postUser("u2", "ref-2"), postUser("u3", "ref-3"), postGroup("g", "Run", "bulkId:u1", "bulkId:u3"),
				`{"method":"PATCH","path":"/Users/bulkId:u2","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Two"}]}}`},
			"POST u1, POST u2, POST u3, POST g, PATCH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTenant(t)
			ctx := context.Background()
			taken := f.createUser("taken")
			if tt.quota > 0 {
				f.caller = f.with(func(p *tenant.Permissions) { p.MaxUsers = tt.quota })
			}
			before, err := events.FindTenantEvents(ctx, f.db, f.tenant.Scope(), 0, 1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			rs := f.bulk(tt.failOnErrors, tt.ops...)
			if got := outcomes(rs); got != tt.want {
				t.Fatalf("results: %s, want %s", got, tt.want)
			}
			var made []string // ids of the users created, in request order
			for _, r := range rs {
				switch {
				case r.Err == nil && r.Method == directory.MethodPost && r.Type.Is(scim.UserResource):
					made = append(made, r.ID)
					got, _ := json.Marshal(r.Resource.Render(f.caller.BaseURL))
					g, err := f.svc.Get(ctx, f.caller, scim.UserResource, r.ID, false)
					if err != nil {
						t.Fatal(err)
					}
					if read, _ := json.Marshal(g.Render(f.caller.BaseURL)); r.Method == directory.MethodPost && string(got) != string(read) && !strings.Contains(tt.want, "PATCH") {
						t.Errorf("%s: result\n%s\nGET\n%s", r.BulkID, got, read)
					}
				case app.ErrorCode(r.Err) == app.ECONFLICT:
					if msg := app.ErrorMessage(r.Err); !strings.Contains(msg, "userName") || !strings.Contains(msg, "already taken") {
						t.Errorf("%s: conflict message %q", r.BulkID, msg)
					}
				}
			}
			// Exactly the users created, counted right.
			var users []string
			var counter int
			if err := f.db.InTenant(ctx, f.tenant.Scope(), func(tx *sqlx.Tx) error {
				if err := tx.SelectContext(ctx, &users, `SELECT id::text FROM users WHERE id <> $1 ORDER BY user_name`, taken.ID); err != nil {
					return err
				}
				return tx.GetContext(ctx, &counter, `SELECT value FROM counters WHERE name = 'users'`)
			}); err != nil {
				t.Fatal(err)
			}
			if len(users) != len(made) || counter != len(made)+1 {
				t.Errorf("%d users besides the first and a counter of %d; want %d and %d", len(users), counter, len(made), len(made)+1)
			}
			// Their audit records, in request order, each with its bulkId.
			var trail []string
			for _, e := range f.trail() {
				if e.Action == "user.create" && e.Target != taken.ID {
					trail = append(trail, e.Target)
					if e.Details["bulk"] != true || e.Details["bulkId"] == nil {
						t.Errorf("audit record of %s: details %v", e.Target, e.Details)
					}
				}
			}
			if strings.Join(trail, " ") != strings.Join(made, " ") {
				t.Errorf("audit records of\n%v\nwant\n%v", trail, made)
			}
			// Their events, numbered on from the ones before, in request
			// order, each telling its user as a GET does.
			evs, err := events.FindTenantEvents(ctx, f.db, f.tenant.Scope(), 0, 1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			var told []string
			last := before[len(before)-1].Sequence
			for _, e := range evs[len(before):] {
				if e.Sequence != last+1 {
					t.Errorf("event %d after %d", e.Sequence, last)
				}
				last = e.Sequence
				if e.Type == events.UserCreated {
					var d map[string]any
					_ = json.Unmarshal(e.Data, &d)
					told = append(told, fmt.Sprint(d["id"]))
					if meta, _ := d["meta"].(map[string]any); meta["created"] == nil || meta["created"] != meta["lastModified"] {
						t.Errorf("event of %v: meta %v", d["id"], d["meta"])
					}
				}
			}
			if strings.Join(told, " ") != strings.Join(made, " ") {
				t.Errorf("user.created events of\n%v\nwant\n%v", told, made)
			}
			if strings.Contains(tt.want, "POST g") {
				g, err := f.svc.Get(ctx, f.caller, scim.GroupResource, rs[3].ID, true)
				if err != nil {
					t.Fatal(err)
				}
				if len(g.Members) != 2 || g.Members[0].Value != rs[0].ID && g.Members[1].Value != rs[0].ID {
					t.Errorf("group members %+v, want u1 and u3", g.Members)
				}
				u2, err := f.svc.Get(ctx, f.caller, scim.UserResource, rs[1].ID, false)
				if err != nil || attrs(t, u2)["displayName"] != "Two" {
					t.Errorf("u2 after its PATCH: %v (%v)", u2, err)
				}
			}
		})
	}
}
