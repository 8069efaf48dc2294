package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
	"github.com/bulkhead-dev/bulkhead/web"
)

// wantRole is who may use a console or admin-API route, stated once as a
// rule rather than route by route: support reads every page but those that
// exist only to change something or to manage staff, and changes nothing
// but its own session and password. Everything else is an administrator's.
// A route whose table disagrees fails TestConsoleRouteRoles.
func wantRole(method, path string) string {
	adminPages := map[string]bool{"/admin/tenants/new": true, "/admin/tenants/:id/delete": true, "/admin/staff": true}
	supportWrites := map[string]bool{"POST /admin/signout": true, "POST /admin/account/password": true}
	switch {
	case path == "/admin/signin":
		return "anyone"
	case method == http.MethodGet:
		if adminPages[path] {
			return "admin"
		}
		return "support"
	case supportWrites[method+" "+path]:
		return "support"
	}
	return "admin"
}

// outsideTables are the routes under /admin that no role table lists: they
// serve files or redirect, and need no one signed in.
var outsideTables = map[string]bool{"GET /admin/static/*": true, "GET /admin": true}

// staffRoutes is every route the console and the admin API serve, from
// Echo's list joined with their tables. It fails the test for a route that
// Echo serves under /admin outside the tables.
func staffRoutes(t testing.TB, cs *consoleServer) []web.StaffRoute {
	t.Helper()
	var out []web.StaffRoute
	for _, r := range web.StaffRoutes(cs.web) {
		switch {
		case r.Method == echo.RouteNotFound:
		case r.Role == "" && !outsideTables[r.Method+" "+r.Path]:
			t.Errorf("%s %s is served outside the console's role tables", r.Method, r.Path)
		case r.Role != "":
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no console routes")
	}
	return out
}

// fill puts values in a route's parameters, failing the test for one it
// has no value for.
func fill(t testing.TB, path string, params map[string]string) string {
	t.Helper()
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if !strings.HasPrefix(p, ":") {
			continue
		}
		key := p
		if p == ":id" && strings.HasPrefix(path, "/admin/staff/") {
			key = ":staff"
		}
		v, ok := params[key]
		if !ok {
			t.Fatalf("%s: no value for %s; add one to the test", path, key)
		}
		parts[i] = url.PathEscape(v)
	}
	return strings.Join(parts, "/")
}

// adminActions are the console's administrator-only routes, from its route
// table, filled with params.
func adminActions(t testing.TB, cs *consoleServer, params map[string]string) []struct{ method, path string } {
	t.Helper()
	var out []struct{ method, path string }
	for _, r := range staffRoutes(t, cs) {
		if !strings.HasPrefix(r.Path, "/admin/api/") && wantRole(r.Method, r.Path) == "admin" {
			out = append(out, struct{ method, path string }{r.Method, fill(t, r.Path, params)})
		}
	}
	return out
}

// TestConsoleRouteRoles takes every route of the console's and the admin
// API's tables: each names the role wantRole gives it; support, signed in
// with a valid CSRF token or holding an API key, is refused every
// administrator's route with 403 and changes nothing; and a stranger is
// sent to sign in (pages), refused with 401 (forms and API) and changes
// nothing either.
func TestConsoleRouteRoles(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	ctx := context.Background()
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	toks, err := cs.tenants.FindTokens(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	const urn = "urn:ietf:params:scim:schemas:extension:roles:2.0:User"
	def := `{"schema": "` + urn + `", "attributes": [{"name": "badge", "type": "string"}]}`
	if code, body := cs.api(t, cs.apiKey(t, staff.RoleAdmin), http.MethodPost, "/tenants/"+tn.ID+"/schemas", json.RawMessage(def)); code != http.StatusOK {
		t.Fatalf("add an extension: %d %v", code, body)
	}
	email, password := cs.newStaff(t, staff.RoleSupport)
	sup := cs.account(t, email)
	key, err := staff.CreateAPIKey(ctx, cs.db, sup.ID, "support", "test")
	if err != nil {
		t.Fatal(err)
	}
	otherEmail, _ := cs.newStaff(t, staff.RoleSupport)
	other := cs.account(t, otherEmail)
	b := cs.browser(t)
	b.signIn(email, password)
	hook, err := webhook.NewService(cs.db, webhook.Policy{}).Add(ctx, "https://93.184.215.14/roles", tn.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{":id": tn.ID, ":token": toks[0].ID.String(), ":urn": urn, ":staff": other.ID.String(), ":key": key.ID.String(), ":hook": hook.ID}

	// What each request would change if it got through: a new tenant or
	// account with these names, or any column of the rows it names.
	newTenant, newEmail := uniq("bysupport"), uniq("bysupport")+"@example.test"
	form := url.Values{"id": {newTenant}, "name": {"x"}, "plan": {"startup"}, "confirm": {tn.ID}, "can_create": {"on"},
		"max_users": {"1"}, "max_groups": {"1"}, "requests_per_minute": {"1"}, "burst": {"1"}, "schema": {urn}, "definition": {def},
		"email": {newEmail}, "role": {"admin"}, "password": {"correct horse battery staple"},
		"url": {"https://93.184.215.14/bysupport"}, "tenant_id": {tn.ID}, "sequence": {"1"}}
	body := map[string]any{"id": newTenant, "name": "x", "plan": "startup", "can_create": false, "max_users": 1,
		"schema": urn, "attributes": []any{map[string]any{"name": "other", "type": "string"}},
		"url": "https://93.184.215.14/bysupport", "tenant_id": tn.ID, "sequence": 1}
	state := func() string {
		t.Helper()
		const q = `SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '') FROM (
			SELECT 'tenant ' || to_jsonb(t)::text r FROM control.tenants t WHERE id IN ($1, $2)
			UNION ALL SELECT 'permissions ' || to_jsonb(p)::text FROM control.tenant_permissions p WHERE tenant_id = $1
			UNION ALL SELECT 'token ' || (to_jsonb(k) - 'last_used_at')::text FROM control.tokens k WHERE tenant_id = $1
			UNION ALL SELECT 'extension ' || to_jsonb(x)::text FROM control.schema_extensions x WHERE tenant_id = $1
			UNION ALL SELECT 'staff ' || (to_jsonb(s) - 'last_sign_in_at')::text FROM control.staff s WHERE id IN ($3, $4) OR lower(email) = $5
			UNION ALL SELECT 'key ' || (to_jsonb(k) - 'last_used_at')::text FROM control.staff_api_keys k WHERE staff_id IN ($3, $4)
			UNION ALL SELECT 'webhook ' || to_jsonb(w)::text FROM control.webhook_endpoints w WHERE tenant_id = $1
			UNION ALL SELECT 'cursor ' || to_jsonb(c)::text FROM control.webhook_cursors c WHERE tenant_id = $1
			UNION ALL SELECT 'audit ' || count(*) FROM control.audit_events WHERE tenant_id IN ($1, $2) OR actor = $6) rows`
		var s string
		if err := cs.db.GetContext(ctx, &s, q, tn.ID, newTenant, sup.ID, other.ID, newEmail, sup.Actor()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	unchanged := func(t *testing.T, r web.StaffRoute) {
		t.Helper()
		after := state()
		if after == before {
			return
		}
		was := map[string]bool{}
		for _, l := range strings.Split(before, "\n") {
			was[l] = true
		}
		var changed []string
		for _, l := range strings.Split(after, "\n") {
			if !was[l] {
				changed = append(changed, l)
			}
		}
		t.Errorf("%s %s changed what it must not; now:\n%s", r.Method, r.Path, strings.Join(changed, "\n"))
		before = after // so that the next route is judged on its own
	}

	routes := staffRoutes(t, cs)
	for _, r := range routes {
		if want := wantRole(r.Method, r.Path); r.Role != want {
			t.Errorf("%s %s is for %s in its table; want %s", r.Method, r.Path, r.Role, want)
		}
	}
	t.Run("ErrSupportChanges", func(t *testing.T) {
		var n int
		for _, r := range routes {
			if wantRole(r.Method, r.Path) != "admin" {
				continue
			}
			n++
			path := fill(t, r.Path, params)
			var status int
			if api, ok := strings.CutPrefix(path, "/admin/api/v1"); ok {
				status, _ = cs.api(t, key.Secret, r.Method, api, body)
			} else {
				req, _ := http.NewRequest(r.Method, cs.srv.URL+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-CSRF-Token", b.csrf)
				status = b.do(req).StatusCode
			}
			if status != http.StatusForbidden {
				t.Errorf("support %s %s: status %d, want 403", r.Method, path, status)
			}
			unchanged(t, r)
		}
		if n < 20 {
			t.Errorf("only %d administrator routes", n)
		}
	})
	t.Run("ErrSignedOut", func(t *testing.T) {
		stranger := cs.browser(t)
		stranger.get("/admin/signin") // a session of its own, with a CSRF token
		for _, r := range routes {
			if r.Role == "anyone" {
				continue
			}
			path := fill(t, r.Path, params)
			if api, ok := strings.CutPrefix(path, "/admin/api/v1"); ok {
				if status, _ := cs.api(t, "", r.Method, api, body); status != http.StatusUnauthorized {
					t.Errorf("no key %s %s: status %d, want 401", r.Method, path, status)
				}
				unchanged(t, r)
				continue
			}
			req, _ := http.NewRequest(r.Method, cs.srv.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-CSRF-Token", stranger.csrf)
			p := stranger.do(req)
			switch {
			case r.Method == http.MethodGet:
				if loc := p.Header.Get("Location"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/signin?next=") {
					t.Errorf("signed out %s %s: status %d to %q, want 303 to the sign-in page", r.Method, path, p.StatusCode, loc)
				}
			case p.StatusCode != http.StatusUnauthorized:
				t.Errorf("signed out %s %s: status %d, want 401", r.Method, path, p.StatusCode)
			}
			unchanged(t, r)
		}
	})
}
