package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

// setPermissions changes a tenant's permissions the way staff do, and
// returns once the change is in force in the shared server.
func setPermissions(t *testing.T, c *client, change func(*tenant.Permissions)) {
	t.Helper()
	ctx := context.Background()
	p, err := env.tenants.FindPermissions(ctx, c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	change(p)
	if err := env.tenants.UpdatePermissions(ctx, c.tenant, *p, "test"); err != nil {
		t.Fatal(err)
	}
	synced(t)
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	id := c.createUser("perm")
	for _, tt := range []struct {
		perm         string
		off          func(*tenant.Permissions)
		method, path string
		body         any
	}{
		{"can_create", func(p *tenant.Permissions) { p.CanCreate = false }, "POST", "/Users", user("new")},
		{"can_read", func(p *tenant.Permissions) { p.CanRead = false }, "GET", "/Users/" + id, nil},
		{"can_update", func(p *tenant.Permissions) { p.CanUpdate = false }, "PUT", "/Users/" + id, user("perm2")},
		{"can_delete", func(p *tenant.Permissions) { p.CanDelete = false }, "DELETE", "/Users/" + id, nil},
		{"can_list", func(p *tenant.Permissions) { p.CanList = false }, "GET", "/Users", nil},
		{"can_list", func(p *tenant.Permissions) { p.CanList = false }, "POST", "/.search", map[string]any{}},
	} {
		t.Run(tt.perm+" "+tt.method+" "+tt.path, func(t *testing.T) {
			setPermissions(t, c, tt.off)
			// In force on the next request: first one that changes nothing
			// if it gets through (an id that does not exist, a body
			// without schemas).
			probe := strings.Replace(tt.path, id, "2819c223-7f76-453a-919d-413861904646", 1)
			c.do(tt.method, probe, map[string]any{}).scimError(t, http.StatusForbidden, "")
			r := c.do(tt.method, tt.path, tt.body)
			r.scimError(t, http.StatusForbidden, "")
			if !strings.Contains(r.str("detail"), tt.perm) {
				t.Errorf("detail %q does not name %s", r.str("detail"), tt.perm)
			}
			// Discovery needs only a valid token.
			c.do("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
			setPermissions(t, c, func(p *tenant.Permissions) { *p = tenant.Plans[tenant.PlanEnterprise].Permissions })
			c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		})
	}
	// Nothing was changed by the refused requests.
	r := c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
	if r.str("userName") != "perm" {
		t.Errorf("user after refused writes: %s", r.Raw)
	}
}

// TestQuotaConcurrentCreates: with room for one more, 14 concurrent creates
// give exactly one success and 13 refusals, for users and for groups.
func TestQuotaConcurrentCreates(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Users", "Groups"} {
		t.Run(kind, func(t *testing.T) {
			c := newTenant(t, func(nt *tenant.NewTenant) { nt.MaxUsers, nt.MaxGroups = ptr(10), ptr(10) })
			body := func(i int) map[string]any {
				if kind == "Users" {
					return user(fmt.Sprintf("%s-%d", kind, i))
				}
				return map[string]any{"schemas": []string{groupSchema}, "displayName": fmt.Sprintf("%s-%d", kind, i)}
			}
			for i := 0; i < 9; i++ {
				c.do("POST", "/"+kind, body(i)).must(t, http.StatusCreated)
			}
			statuses := make([]*response, 14)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Add(1)
				go func() { defer wg.Done(); statuses[i] = c.do("POST", "/"+kind, body(100+i)) }()
			}
			wg.Wait()
			created := 0
			for _, r := range statuses {
				switch r.Status {
				case http.StatusCreated:
					created++
				case http.StatusForbidden:
					if !strings.Contains(r.str("detail"), "quota of 10") {
						t.Errorf("refusal detail %q does not name the quota", r.str("detail"))
					}
				default:
					t.Errorf("unexpected %d: %s", r.Status, r.Raw)
				}
			}
			total := c.do("GET", "/"+kind+"?count=0", nil).must(t, http.StatusOK).Body["totalResults"]
			if created != 1 || total != float64(10) {
				t.Fatalf("%d creates succeeded and %v %s exist; want 1 and 10", created, total, kind)
			}
			// Deleting one makes room for exactly one.
			first := c.do("GET", "/"+kind+"?count=1&attributes=id", nil).resources()[0]["id"].(string)
			c.do("DELETE", "/"+kind+"/"+first, nil).must(t, http.StatusNoContent)
			c.do("POST", "/"+kind, body(500)).must(t, http.StatusCreated)
			c.do("POST", "/"+kind, body(501)).scimError(t, http.StatusForbidden, "")
		})
	}
}

// TestCrossTenant: with tenant A's token, every SCIM route of tenant B
// answers 401 and changes nothing in B.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	uid := b.createUser("b-user")
	gid := b.createGroup("b-group", uid)
	before := b.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
	intruder := &client{t: t, token: a.token, prefix: b.prefix}
	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/Users", nil},
		{"GET", "/Users/" + uid, nil},
		{"GET", "/Groups/" + gid, nil},
		{"POST", "/Users", user("intruder")},
		{"PUT", "/Users/" + uid, user("renamed")},
		{"PATCH", "/Users/" + uid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "x"}}}},
		{"DELETE", "/Users/" + uid, nil},
		{"DELETE", "/Groups/" + gid, nil},
		{"POST", "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": []any{}}},
		{"POST", "/.search", map[string]any{}},
		{"POST", "/Users/.search", map[string]any{}},
		{"GET", "/ServiceProviderConfig", nil},
	} {
		intruder.do(tt.method, tt.path, tt.body).scimError(t, http.StatusUnauthorized, "")
	}
	after := b.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK)
	if string(after.Raw) != string(before.Raw) {
		t.Fatalf("B's user changed:\n%s\n%s", before.Raw, after.Raw)
	}
	if n := b.do("GET", "/Users?count=0", nil).Body["totalResults"]; n != float64(1) {
		t.Fatalf("B has %v users", n)
	}
	b.do("GET", "/Groups/"+gid, nil).must(t, http.StatusOK)
}

// TestRevocationReachesOtherInstances: a token revoked through one instance
// (or the CLI) is refused by another instance, which had it cached, once
// the other instance's listener has taken the notification.
func TestRevocationReachesOtherInstances(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	tok, err := env.tenants.CreateToken(context.Background(), c.tenant, "second", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	second := web.NewServer(web.Config{DB: env.db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL})
	ctx, cancel := context.WithCancel(context.Background())
	wait := second.Start(ctx)
	defer func() { cancel(); wait() }()
	srv2 := httptest.NewServer(second)
	defer srv2.Close()
	get := func() int {
		req, _ := http.NewRequest("GET", srv2.URL+c.prefix+"/Users?count=0", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Warm the second instance's cache, once it is on.
	waitListening(t, second)
	for i := 0; i < 3; i++ {
		if status := get(); status != http.StatusOK {
			t.Fatalf("second instance: status %d before the revocation", status)
		}
	}
	if _, err := env.tenants.RevokeToken(context.Background(), c.tenant, tok.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}
	syncWith(t, second)
	if status := get(); status != http.StatusUnauthorized {
		t.Errorf("second instance: status %d after the revocation, want 401", status)
	}
	// The first token still works.
	c.do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
}

// TestRateLimit: a tenant flooding gets 429s with Retry-After while another
// tenant's requests all succeed.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	flooder, quiet := newTenant(t), newTenant(t)
	setPermissions(t, flooder, func(p *tenant.Permissions) { p.RequestsPerMinute, p.Burst = 60, 5 })
	limitedSoon := false // a burst of 5: the 6th of 10 quick requests at the latest
	for i := 0; i < 10 && !limitedSoon; i++ {
		limitedSoon = flooder.do("GET", "/Users?count=0", nil).Status == http.StatusTooManyRequests
	}
	if !limitedSoon {
		t.Fatal("the new limit is not in force")
	}
	var limited, ok int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 40; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := flooder.do("GET", "/Users?count=0", nil)
			mu.Lock()
			defer mu.Unlock()
			if r.Status == http.StatusTooManyRequests {
				limited++
				if r.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				if r.Body["status"] != "429" {
					t.Errorf("429 body: %s", r.Raw)
				}
			}
		}()
		go func() {
			defer wg.Done()
			r := quiet.do("GET", "/Users?count=0", nil)
			mu.Lock()
			defer mu.Unlock()
			if r.Status == http.StatusOK {
				ok++
			}
		}()
	}
	wg.Wait()
	if limited < 30 || ok != 40 {
		t.Fatalf("flooder limited %d of 40 (want most), quiet tenant %d of 40 OK (want all)", limited, ok)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big","title":"` + strings.Repeat("x", 17<<20) + `"}`
	c.do("POST", "/Users", big).scimError(t, http.StatusRequestEntityTooLarge, "")
}

func ptr[T any](v T) *T { return &v }
