package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is one fresh tenant and a caller holding its first token, as the
// HTTP layer would pass it after authentication.
type fixture struct {
	t       *testing.T
	db      *store.DB
	tenants *tenant.Service
	svc     *directory.Service
	tenant  *tenant.Tenant
	secret  string
	caller  directory.Caller
}

var tenantSeq atomic.Int64

// newTenant creates a tenant through the production path (tenant.Service)
// and drops it when the test ends.
func newTenant(t *testing.T, opts ...func(*tenant.NewTenant)) *fixture {
	t.Helper()
	return newTenantIn(t, storetest.SharedDB(t), opts...)
}

// newTenantIn is newTenant in db, such as a pool of the test's own whose
// round trips it counts.
func newTenantIn(t *testing.T, db *store.DB, opts ...func(*tenant.NewTenant)) *fixture {
	t.Helper()
	ctx := context.Background()
	tenants := tenant.NewService(db)
	nt := tenant.NewTenant{ID: fmt.Sprintf("dir%d", tenantSeq.Add(1)), Plan: tenant.PlanEnterprise}
	for _, o := range opts {
		o(&nt)
	}
	tn, tok, err := tenants.CreateTenant(ctx, nt, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tenants.DeleteTenant(context.Background(), tn.ID, "test"); err != nil {
			t.Error(err)
		}
	})
	f := &fixture{t: t, db: db, tenants: tenants, svc: directory.NewService(db), tenant: tn, secret: tok.Secret}
	f.authenticate()
	return f
}

// authenticate (again) sets the caller to what the tenant's token stands
// for now.
func (f *fixture) authenticate() {
	f.t.Helper()
	p, err := credential.NewService(f.tenants).Authenticate(context.Background(), f.secret)
	if err != nil {
		f.t.Fatal(err)
	}
	f.caller = directory.Caller{Principal: p, RequestID: "req-1", ClientAddr: "192.0.2.1", BaseURL: "https://scim.test/scim/v2"}
}

// with returns the caller with its tenant's permissions changed by fn.
func (f *fixture) with(fn func(*tenant.Permissions)) directory.Caller {
	p := *f.caller.Principal
	fn(&p.Permissions)
	c := f.caller
	c.Principal = &p
	return c
}

// body decodes a JSON object as the HTTP layer does (numbers as
// json.Number).
func body(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func userBody(t *testing.T, userName string) map[string]any {
	return body(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`+quote(userName)+`}`)
}

func groupBody(t *testing.T, name string, members ...string) map[string]any {
	list := []map[string]string{}
	for _, m := range members {
		list = append(list, map[string]string{"value": m})
	}
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": list})
	return body(t, string(b))
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func (f *fixture) createUser(userName string) *scim.Resource {
	f.t.Helper()
	r, err := f.svc.Create(context.Background(), f.caller, scim.UserResource, userBody(f.t, userName))
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// state is what a failed operation must leave as it found: the rows of the
// tenant's tables, its audit trail and its outbox of directory events.
type state struct {
	Users, Groups, Members, Events, Outbox int
}

func (f *fixture) state() state {
	f.t.Helper()
	var s state
	ctx := context.Background()
	err := f.db.InTenant(ctx, f.tenant.Scope(), func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &s, `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM groups) AS groups,
			(SELECT count(*) FROM group_members) AS members, (SELECT count(*) FROM audit_events) AS events,
			(SELECT count(*) FROM events) AS outbox`)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// trail returns the tenant's audit trail, oldest first.
func (f *fixture) trail() []audit.SCIMEvent {
	f.t.Helper()
	var events []audit.SCIMEvent
	ctx := context.Background()
	err := f.db.InTenant(ctx, f.tenant.Scope(), func(tx *sqlx.Tx) (err error) {
		events, err = audit.FindSCIMEvents(ctx, tx, time.Time{}, 1000)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(events)
	return events
}

// wantCode fails the test unless err is an *app.Error with code (and,
// when given, refusal reason).
func wantCode(t *testing.T, err error, code string, reason ...string) {
	t.Helper()
	if app.ErrorCode(err) != code {
		t.Fatalf("error %v: code %q, want %q", err, app.ErrorCode(err), code)
	}
	var ae *app.Error
	if len(reason) > 0 && (!errors.As(err, &ae) || ae.Reason != reason[0]) {
		t.Fatalf("error %v: want reason %q", err, reason[0])
	}
}

// TestWrites: each write returns the resource as stored and records itself
// once in the tenant's trail, with who made it and the request it came in.
func TestWrites(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	svc, c := f.svc, f.caller

	u := f.createUser("ada")
	if u.ID == "" || u.Version != 1 || attrs(t, u)["userName"] != "ada" || u.Members == nil {
		t.Fatalf("created: %+v", u)
	}
	g, err := svc.Create(ctx, c, scim.GroupResource, groupBody(t, "Engineers", u.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 1 || g.Members[0].Value != u.ID {
		t.Fatalf("group as created: members %+v", g.Members)
	}

	got, err := svc.Get(ctx, c, scim.UserResource, u.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 1 || got.Members[0].Value != g.ID {
		t.Fatalf("user's groups: %+v", got.Members)
	}
	if got, err = svc.Get(ctx, c, scim.UserResource, u.ID, false); err != nil || got.Members != nil {
		t.Fatalf("Get without members: %+v, %v", got, err)
	}
	// A UUID in capitals names the same user, which keeps its id as stored.
	if got, err = svc.Get(ctx, c, scim.UserResource, strings.ToUpper(u.ID), true); err != nil || got.ID != u.ID || len(got.Members) != 1 {
		t.Fatalf("Get by the id in capitals: %+v, %v", got, err)
	}

	r, err := svc.Replace(ctx, c, scim.UserResource, u.ID, 1, userBody(t, "ada.l"))
	if err != nil {
		t.Fatal(err)
	}
	if attrs(t, r)["userName"] != "ada.l" || r.Version != 2 {
		t.Fatalf("replaced: %+v", r)
	}
	_, err = svc.Replace(ctx, c, scim.UserResource, u.ID, 1, userBody(t, "stale"))
	wantCode(t, err, app.EPRECONDITION)

	patch := body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Ada"}]}`)
	if r, err = svc.Patch(ctx, c, scim.UserResource, u.ID, 0, patch, true); err != nil || attrs(t, r)["displayName"] != "Ada" || r.Members == nil {
		t.Fatalf("patched: %+v, %v", r, err)
	}
	if _, err = svc.Patch(ctx, c, scim.UserResource, u.ID, 0, patch, false); err != nil {
		t.Fatal(err)
	}
	// A group patched without members comes back as written, without
	// loading its member list.
	if r, err = svc.Patch(ctx, c, scim.GroupResource, g.ID, 0, patch, false); err != nil || r.Members != nil || r.Version != 2 {
		t.Fatalf("group patched without members: %+v, %v", r, err)
	}

	if err := svc.Delete(ctx, c, scim.UserResource, u.ID, 0); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Get(ctx, c, scim.UserResource, u.ID, false)
	wantCode(t, err, app.ENOTFOUND)
	wantCode(t, svc.Delete(ctx, c, scim.UserResource, u.ID, 0), app.ENOTFOUND)

	var got2 []string
	for _, e := range f.trail() {
		if e.Actor != c.Principal.Actor() || e.RequestID != "req-1" || e.ClientAddr != "192.0.2.1" || len(e.Details) != 0 {
			t.Errorf("event %+v: want the caller's actor, request and address, no details", e)
		}
		got2 = append(got2, e.Action+" "+e.Outcome)
	}
	want := []string{"user.create success", "group.create success", "user.replace success",
		"user.patch success", "user.patch unchanged", "group.patch success", "user.delete success"}
	if !slices.Equal(got2, want) {
		t.Errorf("trail:\n got %q\nwant %q", got2, want)
	}
}

// TestList: lists and searches of one type, and the root search over both,
// paged as one list.
func TestList(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	for _, n := range []string{"jo", "jane", "kim"} {
		f.createUser(n)
	}
	if _, err := f.svc.Create(ctx, f.caller, scim.GroupResource, groupBody(t, "jets")); err != nil {
		t.Fatal(err)
	}
	names := func(p *directory.Page) []string {
		var out []string
		for _, r := range p.Resources {
			data, err := r.Attributes()
			if err != nil {
				t.Fatal(err)
			}
			n, _ := data["userName"].(string)
			if n == "" {
				n, _ = data["displayName"].(string)
			}
			out = append(out, n)
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		rt    *scim.ResourceType
		q     directory.Query
		total int
		want  []string
	}{
		{"filter", scim.UserResource, directory.Query{Filter: `userName sw "j"`, SortBy: "userName", StartIndex: 1, Count: 10}, 2, []string{"jane", "jo"}},
		{"page", scim.UserResource, directory.Query{SortBy: "userName", StartIndex: 2, Count: 1}, 3, []string{"jo"}},
		{"count 0", scim.UserResource, directory.Query{StartIndex: 1}, 3, nil},
		{"root search", nil, directory.Query{Filter: `userName sw "j" or displayName sw "j"`, StartIndex: 1, Count: 10}, 3, []string{"jo", "jane", "jets"}},
		{"root search pages across types", nil, directory.Query{StartIndex: 3, Count: 2}, 4, []string{"kim", "jets"}},
		{"root search by type", nil, directory.Query{Filter: `meta.resourceType eq "Group"`, StartIndex: 1, Count: 10}, 1, []string{"jets"}},
		// Groups cannot sort by userName: the root search answers with users.
		{"root search sorted as only one type can", nil, directory.Query{SortBy: "userName", StartIndex: 1, Count: 10}, 3, []string{"jane", "jo", "kim"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.List(ctx, f.caller, tt.rt, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tt.total || !slices.Equal(names(p), tt.want) {
				t.Errorf("total %d %q, want %d %q", p.Total, names(p), tt.total, tt.want)
			}
		})
	}
	t.Run("ErrInvalidFilter", func(t *testing.T) {
		for _, rt := range []*scim.ResourceType{scim.UserResource, nil} {
			_, err := f.svc.List(ctx, f.caller, rt, directory.Query{Filter: `userName zz "j"`, StartIndex: 1, Count: 10})
			wantCode(t, err, app.EINVALID)
		}
	})
	t.Run("Members", func(t *testing.T) {
		p, err := f.svc.List(ctx, f.caller, scim.GroupResource, directory.Query{StartIndex: 1, Count: 10, Attributes: "displayName"})
		if err != nil || len(p.Resources) != 1 || p.Resources[0].Members != nil {
			t.Fatalf("members not asked for: %+v, %v", p, err)
		}
		p, err = f.svc.List(ctx, f.caller, scim.GroupResource, directory.Query{StartIndex: 1, Count: 10})
		if err != nil || len(p.Resources) != 1 || p.Resources[0].Members == nil {
			t.Fatalf("members asked for: %+v, %v", p, err)
		}
	})
}

// TestPermissions: an operation the tenant's permissions deny is refused
// with EFORBIDDEN, and leaves no data and no audit record.
func TestPermissions(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	u := f.createUser("kept")
	before := f.state()
	patch := body(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"X"}]}`)
	for _, tt := range []struct {
		name string
		off  func(*tenant.Permissions)
		run  func(c directory.Caller) error
	}{
		{"Create", func(p *tenant.Permissions) { p.CanCreate = false }, func(c directory.Caller) error {
			_, err := f.svc.Create(ctx, c, scim.UserResource, userBody(t, "refused"))
			return err
		}},
		{"Get", func(p *tenant.Permissions) { p.CanRead = false }, func(c directory.Caller) error {
			_, err := f.svc.Get(ctx, c, scim.UserResource, u.ID, true)
			return err
		}},
		{"List", func(p *tenant.Permissions) { p.CanList = false }, func(c directory.Caller) error {
			_, err := f.svc.List(ctx, c, nil, directory.Query{StartIndex: 1, Count: 10})
			return err
		}},
		{"Replace", func(p *tenant.Permissions) { p.CanUpdate = false }, func(c directory.Caller) error {
			_, err := f.svc.Replace(ctx, c, scim.UserResource, u.ID, 0, userBody(t, "renamed"))
			return err
		}},
		{"Patch", func(p *tenant.Permissions) { p.CanUpdate = false }, func(c directory.Caller) error {
			_, err := f.svc.Patch(ctx, c, scim.UserResource, u.ID, 0, patch, true)
			return err
		}},
		{"Delete", func(p *tenant.Permissions) { p.CanDelete = false }, func(c directory.Caller) error {
			return f.svc.Delete(ctx, c, scim.UserResource, u.ID, 0)
		}},
		{"Bulk", func(p *tenant.Permissions) { p.BulkEnabled = false }, func(c directory.Caller) error {
			_, err := f.svc.Bulk(ctx, c, bulkBody(t, 0, postUser("a", "refused")))
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.run(f.with(tt.off)), app.EFORBIDDEN, app.ReasonPermission)
			if got := f.state(); got != before {
				t.Errorf("after a refusal: %+v, want %+v", got, before)
			}
		})
	}
}

// TestQuota: a create past the tenant's quota is refused, and leaves no
// data and no audit record.
func TestQuota(t *testing.T) {
	t.Parallel()
	one := 1
	f := newTenant(t, func(nt *tenant.NewTenant) { nt.MaxUsers, nt.MaxGroups = &one, &one })
	ctx := context.Background()
	f.createUser("first")
	before := f.state()
	_, err := f.svc.Create(ctx, f.caller, scim.UserResource, userBody(t, "second"))
	wantCode(t, err, app.EFORBIDDEN, app.ReasonQuota)
	res, err := f.svc.Bulk(ctx, f.caller, bulkBody(t, 0, postUser("a", "third")))
	if err != nil || len(res) != 1 {
		t.Fatalf("bulk: %+v, %v", res, err)
	}
	wantCode(t, res[0].Err, app.EFORBIDDEN, app.ReasonQuota)
	if got := f.state(); got != before {
		t.Errorf("after quota refusals: %+v, want %+v", got, before)
	}
	// The quota is per type: a group still fits.
	if _, err := f.svc.Create(ctx, f.caller, scim.GroupResource, groupBody(t, "g")); err != nil {
		t.Fatal(err)
	}
}

// TestFailedWriteLeavesNothing: a write that fails, before or after its
// rows are written, leaves neither data nor an audit record: the audit
// record is in the write's transaction.
func TestFailedWriteLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	u := f.createUser("taken")
	before := f.state()
	for _, tt := range []struct {
		name string
		code string
		run  func() error
	}{
		{"duplicate userName", app.ECONFLICT, func() error {
			_, err := f.svc.Create(ctx, f.caller, scim.UserResource, userBody(t, "TAKEN"))
			return err
		}},
		// The group row is written before its members are checked.
		{"group with an unknown member", app.EINVALID, func() error {
			_, err := f.svc.Create(ctx, f.caller, scim.GroupResource, groupBody(t, "g", u.ID, "2819c223-7f76-453a-919d-413861904646"))
			return err
		}},
		// The user is written, then its audit record fails (PostgreSQL
		// refuses NUL in text).
		{"audit record fails", app.EINTERNAL, func() error {
			c := f.caller
			c.RequestID = "req\x00"
			_, err := f.svc.Create(ctx, c, scim.UserResource, userBody(t, "unaudited"))
			return err
		}},
		{"stale version", app.EPRECONDITION, func() error {
			return f.svc.Delete(ctx, f.caller, scim.UserResource, u.ID, 7)
		}},
		{"invalid patch", app.EINVALID, func() error {
			_, err := f.svc.Patch(ctx, f.caller, scim.UserResource, u.ID, 0, body(t, `{"Operations":[{"op":"explode"}]}`), true)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.run(), tt.code)
			if got := f.state(); got != before {
				t.Errorf("after the failure: %+v, want %+v", got, before)
			}
		})
	}
}

// TestTenantExtension: the service works with the tenant's own version of a
// resource type, with its schema extensions, whichever version the caller
// names.
func TestTenantExtension(t *testing.T) {
	t.Parallel()
	f := newTenant(t)
	ctx := context.Background()
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	ext, err := scim.ParseExtension([]byte(`{"schema":"` + urn + `","attributes":[{"name":"costCenter","type":"string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tenants.PutSchemaExtension(ctx, f.tenant.ID, ext, "test"); err != nil {
		t.Fatal(err)
	}
	f.authenticate()
	b := body(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+urn+`"],"userName":"ext","`+urn+`":{"costCenter":"cc-7"}}`)
	r, err := f.svc.Create(ctx, f.caller, scim.UserResource, b)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := attrs(t, r)[urn].(map[string]any)
	if got["costCenter"] != "cc-7" {
		t.Fatalf("extension attribute as stored: %v", attrs(t, r))
	}
}

// attrs returns r's attributes, decoded if it holds them as stored.
func attrs(t *testing.T, r *scim.Resource) map[string]any {
	t.Helper()
	a, err := r.Attributes()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
