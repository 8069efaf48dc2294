package directory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// outbox returns the tenant's events after sequence after, in order.
func (f *fixture) outbox(after int64) []events.Event {
	f.t.Helper()
	evs, err := events.FindTenantEvents(context.Background(), f.db, f.tenant.Scope(), after, events.MaxLimit, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// summary reads events as "type key" lines: the userName or displayName
// of a resource, the id of a deletion, "group<member" for a membership.
func summary(t *testing.T, evs []events.Event, names map[string]string) string {
	t.Helper()
	var out []string
	for _, e := range evs {
		var d map[string]any
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(d["userName"], d["displayName"])
		switch {
		case d["group_id"] != nil:
			key = names[d["group_id"].(string)] + "<" + names[d["member_id"].(string)]
		case strings.HasSuffix(e.Type, ".deleted"):
			key = names[d["id"].(string)]
			if len(d) != 1 {
				t.Errorf("%s data: %v, want only the id", e.Type, d)
			}
		}
		out = append(out, e.Type+" "+key)
	}
	return strings.Join(out, ", ")
}

// TestEvents: every kind of write appends the events that tell it, in the
// write's transaction, numbered 1, 2, 3 … for the tenant, with the
// resource as a GET returns it and the actor of the audit trail; a PATCH
// that changes nothing appends none.
func TestEvents(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	u := f.createUser("ada")
	v := f.createUser("bob")
	g, err := f.svc.Create(ctx, f.caller, scim.GroupResource, groupBody(t, "eng", u.ID))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{u.ID: "ada", v.ID: "bob", g.ID: "eng"}
	var seq int64
	for _, tt := range []struct {
		name  string
		write func() error
		want  string
	}{
		{"creates", func() error { return nil }, "user.created ada<nil>, user.created bob<nil>, group.created <nil>eng, group.member_added eng<ada"},
		{"patch active false", func() error {
			_, err := f.svc.Patch(ctx, f.caller, scim.UserResource, u.ID, 0, body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`), false)
			return err
		}, "user.deactivated ada<nil>"},
		{"patch that changes nothing", func() error {
			_, err := f.svc.Patch(ctx, f.caller, scim.UserResource, u.ID, 0, body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`), false)
			return err
		}, ""},
		{"replace", func() error {
			_, err := f.svc.Replace(ctx, f.caller, scim.UserResource, v.ID, 0, body(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob","displayName":"Bob"}`))
			return err
		}, "user.updated bobBob"},
		{"replace active false", func() error {
			_, err := f.svc.Replace(ctx, f.caller, scim.UserResource, v.ID, 0, body(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob","active":false}`))
			return err
		}, "user.deactivated bob<nil>"},
		{"replace group members", func() error {
			_, err := f.svc.Replace(ctx, f.caller, scim.GroupResource, g.ID, 0, groupBody(t, "eng", v.ID))
			return err
		}, "group.updated <nil>eng, group.member_added eng<bob, group.member_removed eng<ada"},
		{"patch group members", func() error {
			_, err := f.svc.Patch(ctx, f.caller, scim.GroupResource, g.ID, 0, body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+u.ID+`"}]},{"op":"remove","path":"members[value eq \"`+v.ID+`\"]"}]}`), false)
			return err
		}, "group.updated <nil>eng, group.member_added eng<ada, group.member_removed eng<bob"},
		{"delete group", func() error { return f.svc.Delete(ctx, f.caller, scim.GroupResource, g.ID, 0) }, "group.deleted eng"},
		{"delete user", func() error { return f.svc.Delete(ctx, f.caller, scim.UserResource, u.ID, 0) }, "user.deleted ada"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); err != nil {
				t.Fatal(err)
			}
			evs := f.outbox(seq)
			if got := summary(t, evs, names); got != tt.want {
				t.Errorf("events:\n got %s\nwant %s", got, tt.want)
			}
			for _, e := range evs {
				seq++
				if e.Sequence != seq || e.Actor != f.caller.Principal.Actor() || e.ID == "" || e.TenantID != f.tenant.ID || e.Time.IsZero() {
					t.Errorf("event %+v: want sequence %d, actor %s", e, seq, f.caller.Principal.Actor())
				}
			}
		})
	}

	// The data is the resource as GET returns it, memberships aside.
	r, err := f.svc.Get(ctx, f.caller, scim.UserResource, v.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(r.Render(f.caller.BaseURL))
	evs := f.outbox(0)
	var last events.Event
	for _, e := range evs {
		if e.Type == events.UserDeactivated {
			last = e
		}
	}
	var gotData, wantData any
	_ = json.Unmarshal(last.Data, &gotData)
	_ = json.Unmarshal(want, &wantData)
	if fmt.Sprint(gotData) != fmt.Sprint(wantData) {
		t.Errorf("data of the last write of bob:\n got %s\nwant %s", last.Data, want)
	}
	if loc := gotData.(map[string]any)["meta"].(map[string]any)["location"]; loc != "https://scim.test/scim/v2/Users/"+v.ID {
		t.Errorf("meta.location: %v", loc)
	}
}

// TestEventSequenceConcurrent: writers running at once in one tenant get
// sequence numbers 1..N without gap or repeat, even when some of them roll
// back (a taken userName).
func TestEventSequenceConcurrent(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	const writers, each = 6, 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := f.svc.Create(ctx, f.caller, scim.UserResource, userBody(t, fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
				}
				// Fails: the name is taken; its numbers are given back.
				_, _ = f.svc.Create(ctx, f.caller, scim.UserResource, userBody(t, fmt.Sprintf("w%d-%d", w, i)))
			}
		}()
	}
	wg.Wait()
	evs := f.outbox(0)
	if len(evs) != writers*each {
		t.Fatalf("%d events, want %d", len(evs), writers*each)
	}
	for i, e := range evs {
		if e.Sequence != int64(i+1) || e.Type != events.UserCreated {
			t.Fatalf("event %d: %s %d", i, e.Type, e.Sequence)
		}
	}
}

// TestFindTenantEventsTypes: the reader filters by type and pages.
func TestFindTenantEventsTypes(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	u := f.createUser("u")
	if err := f.svc.Delete(ctx, f.caller, scim.UserResource, u.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.createUser("w")
	evs, err := events.FindTenantEvents(ctx, f.db, f.tenant.Scope(), 0, 0, []string{events.UserCreated})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Sequence != 1 || evs[1].Sequence != 3 {
		t.Errorf("user.created: %+v", evs)
	}
	evs, err = events.FindTenantEvents(ctx, f.db, f.tenant.Scope(), 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != events.UserDeleted {
		t.Errorf("after 1, limit 1: %+v", evs)
	}
}

// TestEventsRolledBack: a write that is refused or fails leaves no event,
// in Bulk too, where the operations that succeed still tell theirs.
func TestEventsRolledBack(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	f.createUser("taken")
	rs := f.bulk(0, postUser("a", "TAKEN"), postUser("b", "fresh"), postGroup("g", "grp", "2819c223-7f76-453a-919d-413861904646"))
	if got := outcomes(rs); got != "POST a conflict, POST b, POST g invalid" {
		t.Fatalf("results: %s", got)
	}
	if got := summary(t, f.outbox(0), nil); got != "user.created taken<nil>, user.created fresh<nil>" {
		t.Errorf("events: %s", got)
	}
}
