package web_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/web"
)

// TestStrictTransportSecurity: behind an https base URL every response
// tells browsers to keep to https; behind an http one, none does.
func TestStrictTransportSecurity(t *testing.T) {
	t.Parallel()
	setup(t)
	cs := sharedConsole(t)
	for _, tt := range []struct {
		name   string
		server string
		want   bool
	}{
		{"HTTPSBaseURL", env.srv.URL, true},
		{"HTTPBaseURL", cs.srv.URL, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/healthz", "/admin/signin", "/scim/v2/ServiceProviderConfig", "/nowhere"} {
				res, err := http.Get(tt.server + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				got := res.Header.Get("Strict-Transport-Security")
				if tt.want && got != "max-age=31536000" || !tt.want && got != "" {
					t.Errorf("GET %s: %d, Strict-Transport-Security %q", path, res.StatusCode, got)
				}
			}
		})
	}
}

// TestSCIMNoStore: no SCIM response, an error or not, may be kept by a
// browser or a shared cache.
func TestSCIMNoStore(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	c.createUser("nostore")
	for name, base := range map[string]string{"Tenant": c.prefix, "Root": "/scim/v2"} {
		for _, tt := range []struct {
			name    string
			method  string
			path    string
			status  int
			headers []string
		}{
			{"List", "GET", "/Users?filter=" + q(`userName eq "nostore"`), http.StatusOK, nil},
			{"Discovery", "GET", "/ServiceProviderConfig", http.StatusOK, nil},
			{"ErrFilter", "GET", "/Users?filter=" + q(`userName eq`), http.StatusBadRequest, nil},
			{"ErrToken", "GET", "/Users", http.StatusUnauthorized, []string{"Authorization", "Bearer bh_nope"}},
			{"ErrNotFound", "GET", "/Nowhere", http.StatusNotFound, nil},
			{"ErrMethod", "DELETE", "/Schemas", http.StatusMethodNotAllowed, nil},
		} {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				r := c.do(tt.method, base+tt.path, nil, tt.headers...).must(t, tt.status)
				if got := r.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", got)
				}
			})
		}
	}
}

// TestMiddlewareOnEveryRoute: whatever answers a request (a route, the
// router's 404 or 405, scimAuth's 401, checkText's 400), the request
// middleware ran around it, in order: the response has its request id and
// the log line, written after the error handler, has the same id and the
// status the client got.
func TestMiddlewareOnEveryRoute(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	m := newMetered(t, func(c *web.Config) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	_, p, tok := meteredTenant(t)
	for _, tt := range []struct {
		name, token, method, path string
		status                    int
	}{
		{"Route", tok, "GET", p + "/Users", http.StatusOK},
		{"Health", "", "GET", "/healthz", http.StatusOK},
		{"NotFound", "", "GET", "/nowhere", http.StatusNotFound},
		{"MethodNotAllowed", "", "POST", "/healthz", http.StatusMethodNotAllowed},
		{"Unauthorized", "bh_nope", "GET", p + "/Users", http.StatusUnauthorized},
		{"BadText", tok, "GET", p + "/Users?filter=%FF", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := m.send(t, tt.token, tt.method, tt.path, nil).must(t, tt.status)
			rid := r.Header.Get("X-Request-Id")
			if rid == "" {
				t.Fatal("no X-Request-Id header")
			}
			var line map[string]any
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, rid) {
					_ = json.Unmarshal([]byte(l), &line)
				}
			}
			if line["request_id"] != rid || line["status"] != float64(tt.status) || line["method"] != tt.method {
				t.Fatalf("log line of request %s: %v", rid, line)
			}
		})
	}
}
