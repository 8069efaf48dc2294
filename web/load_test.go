package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadSize reads a size for the load tests from the environment: make test
// runs them small, make soak large.
func loadSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestIsolationUnderLoad: many tenants' IdP-like clients write and read at
// once — creates, filters, .search, Bulk, PATCH, ETags — and after every
// response nothing of another tenant appears.
func TestIsolationUnderLoad(t *testing.T) {
	t.Parallel()
	tenants := loadSize("BULKHEAD_LOAD_TENANTS", 60)
	duration := time.Duration(loadSize("BULKHEAD_LOAD_SECONDS", 3)) * time.Second
	clients := make([]*client, tenants)
	for i := range clients {
		clients[i] = newTenant(t)
	}
	var requests, checked, leaks, busy, created, read atomic.Int64
	// check fails on anything in a response that names another tenant: its
	// users' names carry their tenant id, and locations their tenant path.
	check := func(c *client, r *response) {
		requests.Add(1)
		body := string(r.Raw)
		for _, other := range clients {
			if other != c && (strings.Contains(body, "u-"+other.tenant+"-") || strings.Contains(body, other.prefix+"/")) {
				leaks.Add(1)
				t.Errorf("tenant %s saw tenant %s: %.300s", c.tenant, other.tenant, body)
			}
		}
		checked.Add(1)
	}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("u-%s-%d", c.tenant, i)
				r := c.do("POST", "/Users", user(name, "emails", []any{map[string]any{"value": name + "@example.com", "type": "work"}}))
				check(c, r)
				if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" {
					// More clients than connections: back off, as IdPs do.
					busy.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if r.Status != http.StatusCreated {
					t.Errorf("create: %d %.200s", r.Status, r.Raw)
					return
				}
				created.Add(1)
				id := r.str("id")
				etag := r.Header.Get("ETag")
				for _, rr := range []*response{
					c.do("GET", "/Users?filter="+q(`userName sw "u-"`)+"&count=5", nil),
					c.do("GET", "/Users?filter="+q(`emails[type eq "work" and value co "@example.com"]`)+"&count=5", nil),
					c.do("POST", "/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `userName pr`, "count": 5}),
					c.do("GET", "/Users/"+id, nil, "If-None-Match", etag),
					c.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "title", "value": "t"})),
					c.do("POST", "/Bulk", bulkBody(0, map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g",
						"data": map[string]any{"schemas": []string{groupSchema}, "displayName": "g-" + name, "members": []any{map[string]any{"value": id}}}})),
				} {
					check(c, rr)
					switch {
					case rr.Status == http.StatusServiceUnavailable && rr.Header.Get("Retry-After") != "":
						busy.Add(1)
					case rr.Status >= 500:
						t.Errorf("%d %.200s", rr.Status, rr.Raw)
					case rr.Status < 400:
						read.Add(1)
					}
				}
				// Another tenant's id is not found here.
				other := clients[(i+1)%len(clients)]
				if other != c {
					check(c, c.do("GET", "/Users?filter="+q(`userName eq "u-`+other.tenant+`-0"`), nil))
				}
			}
		}()
	}
	wg.Wait()
	if leaks.Load() != 0 {
		t.Fatalf("%d responses leaked another tenant's data", leaks.Load())
	}
	// A test that checked only refusals would prove nothing: most tenants
	// must have got their work done (some may have been answered busy
	// throughout on a loaded machine).
	if 2*created.Load() < int64(tenants) || read.Load() < created.Load() {
		t.Fatalf("%d creates and %d successful reads and writes for %d tenants: too few to show isolation", created.Load(), read.Load(), tenants)
	}
	t.Logf("%d tenants, %d requests (%d creates, %d other successes), %d responses checked, %d answered 503 busy, 0 leaks", tenants, requests.Load(), created.Load(), read.Load(), checked.Load(), busy.Load())
}

// TestDeleteTenantUnderTraffic: a tenant deleted while its IdP keeps
// sending requests: they fail cleanly (401/404), the drop completes, nothing
// of the tenant remains, and another tenant sees no errors.
func TestDeleteTenantUnderTraffic(t *testing.T) {
	t.Parallel()
	doomed, bystander := newTenant(t), newTenant(t)
	for i := 0; i < 20; i++ {
		doomed.createUser(fmt.Sprintf("doomed-%d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var after, bad, bystanderErrors atomic.Int64
	var deleted atomic.Bool
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r *response
				time.Sleep(5 * time.Millisecond)
				if i%2 == 0 {
					r = doomed.do("POST", "/Users", user(fmt.Sprintf("late-%d-%d", w, i)))
				} else {
					r = doomed.do("GET", "/Users?count=5", nil)
				}
				switch {
				case r.Status < 300:
				case r.Status == http.StatusUnauthorized || r.Status == http.StatusNotFound:
					if deleted.Load() {
						after.Add(1)
					}
				default:
					bad.Add(1)
					t.Errorf("doomed tenant got %d: %.200s", r.Status, r.Raw)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Paced to stay within the tenant's own rate limit.
				time.Sleep(20 * time.Millisecond)
				if r := bystander.do("GET", "/Users?count=1", nil); r.Status != http.StatusOK {
					bystanderErrors.Add(1)
					t.Errorf("bystander got %d: %.200s", r.Status, r.Raw)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := env.tenants.DeleteTenant(context.Background(), doomed.tenant, "test"); err != nil {
		t.Fatal(err)
	}
	deleted.Store(true)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || bystanderErrors.Load() != 0 || after.Load() == 0 {
		t.Fatalf("%d unclean failures, %d bystander errors, %d refusals after the delete", bad.Load(), bystanderErrors.Load(), after.Load())
	}
	var left int
	if err := env.db.GetContext(context.Background(), &left, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + (SELECT count(*) FROM control.tenants WHERE id = $2) + (SELECT count(*) FROM control.tokens WHERE tenant_id = $2)`,
		"tenant_"+doomed.tenant, doomed.tenant); err != nil || left != 0 {
		t.Fatalf("%d rows or schemas of the deleted tenant remain (%v)", left, err)
	}
	if _, err := env.tenants.FindTenant(context.Background(), doomed.tenant); err == nil {
		t.Fatal("tenant still found")
	}
}
