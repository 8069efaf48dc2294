package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// hostileHit is one request of the hostile-text corpus, as sent.
type hostileHit struct {
	status int
	header http.Header
	body   string
}

// hostileSend sends one request with http.DefaultClient (or hc), headers as
// name, value pairs.
func hostileSend(t *testing.T, hc *http.Client, method, rawURL, body string, headers ...string) hostileHit {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return hostileHit{status: res.StatusCode, header: res.Header, body: string(raw)}
}

var generatedID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// TestHostileText is the corpus of bytes PostgreSQL cannot store and of
// lengths its indexes cannot hold, sent to every surface: SCIM paths,
// filters, query parameters, headers and bodies, the admin API, console
// pages and forms, and the sign-in form before anyone is signed in. Each
// gets a 4xx of the surface's own kind (a SCIM error, an admin API JSON
// error, a console page), never a 5xx, and usage metering still flushes
// afterwards.
func TestHostileText(t *testing.T) {
	t.Parallel()
	cs, meter := newMeteredConsole(t)
	tn, tok := cs.createTenant(t, tenant.PlanEnterprise)
	base := cs.srv.URL + "/tenants/" + tn.ID + "/scim/v2"
	auth := []string{"Authorization", "Bearer " + tok, "Content-Type", "application/scim+json"}
	created := hostileSend(t, nil, "POST", base+"/Users", `{"schemas":["`+scim.UserSchemaURN+`"],"userName":"target"}`, auth...)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal([]byte(created.body), &u)
	long := strings.Repeat("x", 3000)

	t.Run("SCIM", func(t *testing.T) {
		userWith := func(attrs string) string {
			return `{"schemas":["` + scim.UserSchemaURN + `"],"userName":"u` + attrs + `"}`
		}
		for _, tt := range []struct {
			name, method, path, body string
			headers                  []string
			status                   int
			scimType, detail         string // detail: part of the message
		}{
			{name: "PathInvalidUTF8", method: "GET", path: "/Users/%ff", status: 400, scimType: "invalidValue", detail: "path"},
			{name: "PathNUL", method: "GET", path: "/Users/%00", status: 400, scimType: "invalidValue"},
			{name: "PathNULOnPatch", method: "PATCH", path: "/Users/%00", body: `{}`, status: 400, scimType: "invalidValue"},
			{name: "EscapedPercentIsText", method: "GET", path: "/Users/%2500", status: 404},
			{name: "FilterNUL", method: "GET", path: "/Users?filter=" + q("userName eq \"\x00\""), status: 400, scimType: "invalidFilter", detail: `"filter"`},
			{name: "FilterInvalidUTF8", method: "GET", path: "/Users?filter=%FF%FE", status: 400, scimType: "invalidFilter"},
			{name: "SortByNUL", method: "GET", path: "/Users?sortBy=%00", status: 400, scimType: "invalidValue", detail: `"sortBy"`},
			{name: "AttributesInvalidUTF8", method: "GET", path: "/Users?attributes=%c3%28", status: 400, scimType: "invalidValue"},
			{name: "UnknownParamNUL", method: "GET", path: "/Users?x=%00", status: 400, scimType: "invalidValue"},
			{name: "ParamNameInvalidUTF8", method: "GET", path: "/Users?%ff=1", status: 400, scimType: "invalidValue", detail: "the name of a query parameter"},
			{name: "UserAgentInvalidUTF8", method: "GET", path: "/Users", headers: []string{"User-Agent", "Okta\xff"}, status: 400, scimType: "invalidValue", detail: `"User-Agent"`},
			{name: "IfMatchInvalidUTF8", method: "PUT", path: "/Users/" + u.ID, body: userWith(``), headers: []string{"If-Match", "W/\"\xfe\""}, status: 400, scimType: "invalidValue"},
			{name: "SearchBodyNUL", method: "POST", path: "/Users/.search", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"\u0000\""}`, status: 400, scimType: "invalidSyntax"},
			{name: "BodyInvalidUTF8", method: "POST", path: "/Users", body: userWith(`","displayName":"\xff`), status: 400, scimType: "invalidSyntax"},
			{name: "LongUserName", method: "POST", path: "/Users", body: `{"schemas":["` + scim.UserSchemaURN + `"],"userName":"` + long + `"}`, status: 400, scimType: "invalidValue", detail: `"userName" has 3000 characters; at most 512`},
			{name: "LongDisplayName", method: "POST", path: "/Users", body: userWith(`","displayName":"` + long), status: 400, scimType: "invalidValue", detail: `"displayName"`},
			{name: "LongExternalID", method: "POST", path: "/Users", body: userWith(`","externalId":"` + long), status: 400, scimType: "invalidValue", detail: `"externalId"`},
			{name: "LongEmail", method: "POST", path: "/Users", body: userWith(`","emails":[{"value":"` + long + `"}],"title":"t`), status: 400, scimType: "invalidValue", detail: `"emails.value"`},
			{name: "LongUserNameByPatch", method: "PATCH", path: "/Users/" + u.ID, body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"` + long + `"}]}`, status: 400, scimType: "invalidValue", detail: `"userName"`},
			{name: "LongGroupName", method: "POST", path: "/Groups", body: `{"schemas":["` + scim.GroupSchemaURN + `"],"displayName":"` + long + `"}`, status: 400, scimType: "invalidValue", detail: `"displayName"`},
			{name: "LongFilterValueIsFine", method: "GET", path: "/Users?filter=" + q(`userName eq "`+long+`"`), status: 200},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := hostileSend(t, nil, tt.method, base+tt.path, tt.body, append(append([]string{}, auth...), tt.headers...)...)
				if h.status != tt.status {
					t.Fatalf("status %d, want %d: %.300s", h.status, tt.status, h.body)
				}
				if tt.status < 400 {
					return
				}
				var e struct {
					Schemas          []string
					ScimType, Detail string
				}
				if err := json.Unmarshal([]byte(h.body), &e); err != nil || len(e.Schemas) != 1 || e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
					t.Fatalf("not a SCIM error: %.300s", h.body)
				}
				if tt.scimType != "" && e.ScimType != tt.scimType || !strings.Contains(e.Detail, tt.detail) {
					t.Fatalf("scimType %q detail %q, want %q and %q", e.ScimType, e.Detail, tt.scimType, tt.detail)
				}
			})
		}
		// At the root SCIM base and in the tenant id of the path too.
		if h := hostileSend(t, nil, "GET", cs.srv.URL+"/scim/v2/Users?filter=%00", "", auth...); h.status != 400 || !strings.Contains(h.body, "invalidFilter") {
			t.Errorf("/scim/v2 filter NUL: %d %.300s", h.status, h.body)
		}
		if h := hostileSend(t, nil, "GET", cs.srv.URL+"/tenants/%ff/scim/v2/Users", "", auth...); h.status != 400 || !strings.Contains(h.body, "invalidValue") {
			t.Errorf("tenant id %%ff: %d %.300s", h.status, h.body)
		}
		if h := hostileSend(t, nil, "GET", base+"/Users", "", "Authorization", "Bearer "+tok+"\xff"); h.status != 400 {
			t.Errorf("token with invalid UTF-8: %d %.300s", h.status, h.body)
		}
	})

	key := cs.apiKey(t, staff.RoleAdmin)
	api := cs.srv.URL + "/admin/api/v1"
	t.Run("AdminAPI", func(t *testing.T) {
		bearer := []string{"Authorization", "Bearer " + key, "Content-Type", "application/json"}
		for _, tt := range []struct {
			name, method, path, body string
			headers                  []string
			detail                   string
		}{
			{name: "QueryNUL", method: "GET", path: "/tenants?q=%00", detail: `"q"`},
			{name: "StatusInvalidUTF8", method: "GET", path: "/tenants?status=%ff"},
			{name: "TenantIDNUL", method: "GET", path: "/tenants/%00", detail: "path"},
			{name: "DeleteTenantIDInvalidUTF8", method: "DELETE", path: "/tenants/%ff"},
			{name: "AuditTenantInvalidUTF8", method: "GET", path: "/audit?tenant=%ff"},
			{name: "KeyInvalidUTF8", method: "GET", path: "/tenants", headers: []string{"Authorization", "Bearer " + key + "\xff"}},
			{name: "BodyNUL", method: "POST", path: "/tenants", body: `{"id":"nul_name","name":"a\u0000b"}`, detail: "NUL"},
			{name: "BodyInvalidUTF8", method: "POST", path: "/tenants", body: "{\"id\":\"bad_name\",\"name\":\"a\xffb\"}", detail: "UTF-8"},
			{name: "LongTenantName", method: "POST", path: "/tenants", body: `{"id":"long_name","name":"` + long + `"}`, detail: "the tenant's name has 3000 characters; at most 200"},
			{name: "TenantNameLineBreak", method: "POST", path: "/tenants", body: `{"id":"nl_name","name":"a\nb"}`, detail: "control characters"},
			{name: "LongTokenName", method: "POST", path: "/tenants/" + tn.ID + "/tokens", body: `{"name":"` + long + `"}`, detail: "the token's name has 3000 characters; at most 100"},
			{name: "TokenNameNUL", method: "POST", path: "/tenants/" + tn.ID + "/tokens", body: `{"name":"a\u0000"}`},
			{name: "SchemaDescriptionNUL", method: "POST", path: "/tenants/" + tn.ID + "/schemas", body: `{"schema":"urn:ietf:params:scim:schemas:extension:nul:2.0:User","description":"\u0000","attributes":[{"name":"a","type":"string"}]}`},
			{name: "PermissionsDuplicateKey", method: "PUT", path: "/tenants/" + tn.ID + "/permissions", body: `{"max_users":1,"max_users":2}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := hostileSend(t, nil, tt.method, api+tt.path, tt.body, append(append([]string{}, bearer...), tt.headers...)...)
				var e struct{ Error string }
				if h.status != http.StatusBadRequest || json.Unmarshal([]byte(h.body), &e) != nil || e.Error == "" {
					t.Fatalf("status %d, want 400 with a JSON error: %.300s", h.status, h.body)
				}
				if !strings.Contains(e.Error, tt.detail) {
					t.Fatalf("error %q does not say %q", e.Error, tt.detail)
				}
			})
		}
	})

	t.Run("Console", func(t *testing.T) {
		b := cs.signedIn(t, staff.RoleAdmin)
		for _, path := range []string{
			"/admin/tenants?q=%00",
			"/admin/tenants?status=%ff",
			"/admin/tenants/%00",
			"/admin/tenants/%ff/usage",
			"/admin/tenants/" + tn.ID + "/requests?status=%00",
			"/admin/audit?tenant=%ff",
			"/admin/no/such/page/%00",
		} {
			p := b.get(path)
			if p.StatusCode != http.StatusBadRequest || p.Doc == nil || !strings.Contains(p.Body, "not valid UTF-8") {
				t.Errorf("GET %s: status %d, want 400 with a page saying why: %.300s", path, p.StatusCode, p.Body)
			}
		}
		for _, tt := range []struct {
			name, path string
			form       url.Values
			says       string
		}{
			{"TokenNameNUL", "/admin/tenants/" + tn.ID + "/tokens", url.Values{"name": {"a\x00"}}, "not valid UTF-8"},
			{"TokenNameInvalidUTF8", "/admin/tenants/" + tn.ID + "/tokens", url.Values{"name": {"a\xff"}}, "not valid UTF-8"},
			{"LongTokenName", "/admin/tenants/" + tn.ID + "/tokens", url.Values{"name": {long}}, "at most 100"},
			{"LongTenantName", "/admin/tenants", url.Values{"id": {"console_long"}, "name": {long}, "plan": {"startup"}}, "at most 200"},
			{"TenantIDNUL", "/admin/tenants", url.Values{"id": {"a\x00"}, "plan": {"startup"}}, "not valid UTF-8"},
			{"SchemaNULEscape", "/admin/tenants/" + tn.ID + "/schemas", url.Values{"definition": {`{"schema":"urn:ietf:params:scim:schemas:extension:nul:2.0:User","description":"\u0000","attributes":[{"name":"a","type":"string"}]}`}}, "NUL"},
			{"LongKeyName", "/admin/account/keys", url.Values{"name": {long}}, "at most 100"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := b.post(tt.path, tt.form)
				if p.StatusCode < 400 || p.StatusCode >= 500 {
					t.Fatalf("status %d, want 4xx: %.300s", p.StatusCode, p.Body)
				}
				if p.Doc == nil || !strings.Contains(p.Doc.Text(), tt.says) {
					t.Fatalf("the page does not say %q: %.600s", tt.says, p.Body)
				}
			})
		}
	})

	t.Run("SignIn", func(t *testing.T) {
		email, password := cs.newStaff(t, staff.RoleAdmin)
		for _, tt := range []struct {
			name   string
			form   url.Values
			status int
		}{
			{"EmailNUL", url.Values{"email": {"admin@localhost\x00"}, "password": {"x"}}, 400},
			{"EmailInvalidUTF8", url.Values{"email": {"admin@localhost\xff"}, "password": {"x"}}, 400},
			{"PasswordNUL", url.Values{"email": {email}, "password": {password + "\x00"}}, 400},
			{"NextInvalidUTF8", url.Values{"email": {email}, "password": {password}, "next": {"/admin/\xff"}}, 400},
			{"LongEmail", url.Values{"email": {long + "@example.com"}, "password": {"x"}}, 401},
		} {
			t.Run(tt.name, func(t *testing.T) {
				b := cs.browser(t)
				b.get("/admin/signin").must(t, http.StatusOK)
				p := b.post("/admin/signin", tt.form)
				if p.StatusCode != tt.status || p.Doc == nil || p.Doc.Find(`form input[name=email]`).Length() != 1 ||
					p.Doc.Find(`[role=alert], .error, [data-testid=error]`).Length() == 0 && !strings.Contains(p.Body, "wrong email") && !strings.Contains(p.Body, "not valid UTF-8") {
					t.Fatalf("status %d, want %d with the sign-in form and a message: %.600s", p.StatusCode, tt.status, p.Body)
				}
				// The form that came back works.
				if p := b.post("/admin/signin", url.Values{"email": {email}, "password": {password}}); p.StatusCode != http.StatusSeeOther {
					t.Fatalf("signing in from the form that came back: %d %.300s", p.StatusCode, p.Body)
				}
			})
		}
		b := cs.browser(t)
		if p := b.get("/admin/signin?next=%00"); p.StatusCode != 400 || p.Doc == nil || p.Doc.Find(`form input[name=email]`).Length() != 1 {
			t.Errorf("GET sign-in with next=%%00: %d %.300s", p.StatusCode, p.Body)
		}
		h := hostileSend(t, nil, "GET", cs.srv.URL+"/admin/signin", "", "Cookie", "bulkhead_session=\xff")
		if h.status != 400 || !strings.Contains(h.body, `name="email"`) {
			t.Errorf("a session cookie with invalid UTF-8: %d %.300s", h.status, h.body)
		}
	})

	t.Run("RequestID", func(t *testing.T) {
		for _, tt := range []struct {
			name, id string
			kept     bool
		}{
			{"Plain", "req-1.2_3:4", true},
			{"AtLimit", strings.Repeat("a", 128), true},
			{"TooLong", strings.Repeat("a", 500_000), false},
			{"Spaces", "a b", false},
			{"Quote", `a"b`, false},
			{"InvalidUTF8", "a\xffb", false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, url := range []string{cs.srv.URL + "/healthz", base + "/Users?count=1"} {
					h := hostileSend(t, nil, "GET", url, "", append(append([]string{}, auth...), "X-Request-Id", tt.id)...)
					got := h.header.Get("X-Request-Id")
					if h.status != 200 || (got == tt.id) != tt.kept || !generatedID.MatchString(got) {
						t.Fatalf("%s: status %d, X-Request-Id %.200q (kept %v, want %v)", url, h.status, got, got == tt.id, tt.kept)
					}
				}
			})
		}
		// What the audit trail keeps is the short id.
		h := hostileSend(t, nil, "POST", api+"/tenants/"+tn.ID+"/tokens", `{"name":"audited"}`,
			"Authorization", "Bearer "+key, "Content-Type", "application/json", "X-Request-Id", strings.Repeat("r", 500_000))
		if h.status != http.StatusCreated {
			t.Fatalf("create token: %d %.300s", h.status, h.body)
		}
		status, body := cs.api(t, key, "GET", "/tenants/"+tn.ID+"/audit", nil)
		events, _ := body["events"].([]any)
		if status != 200 || len(events) == 0 {
			t.Fatalf("audit: %d %v", status, body)
		}
		for _, e := range events {
			raw, _ := json.Marshal(e)
			if len(raw) > 4000 {
				t.Errorf("an audit event of %d bytes: %.300s", len(raw), raw)
			}
		}
	})

	// Metering survived all of it: a request after the attack is counted
	// and everything flushes.
	if h := hostileSend(t, nil, "GET", base+"/Users?count=1", "", auth...); h.status != 200 {
		t.Fatalf("a plain request after the attack: %d %.300s", h.status, h.body)
	}
	if err := meter.Flush(context.Background()); err != nil {
		t.Fatalf("usage did not flush after the corpus: %v", err)
	}
	if st := meter.Stats(); st.Pending != 0 || st.FlushErrors != 0 {
		t.Fatalf("after the flush: %+v", st)
	}
}
