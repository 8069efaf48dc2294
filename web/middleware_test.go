package web_test

import (
	"net/http"
	"testing"
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
