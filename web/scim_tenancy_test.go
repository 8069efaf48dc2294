package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulkhead-dev/bulkhead/web"
)

// The tenancy server runs with every mode on: subdomains of tenantDomain,
// and a gateway at gatewayNet signing with gatewaySecret.
const (
	tenantDomain  = "scim.example.test" // the host of baseURL too
	gatewaySecret = "gateway-shared-secret-for-tests"
)

var tenancyEnv struct {
	once sync.Once
	srv  *web.Server
	http *httptest.Server
}

func tenancyServer(t *testing.T) (*web.Server, string) {
	t.Helper()
	setup(t)
	tenancyEnv.once.Do(func() {
		tenancyEnv.srv = web.NewServer(web.Config{
			DB: env.db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL,
			TenantDomain:   strings.ToUpper(tenantDomain) + ".", // normalised by the server
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("fd00:9::/64")},
			GatewaySecret:  gatewaySecret,
		})
		tenancyEnv.srv.Start(context.Background())
		tenancyEnv.http = httptest.NewServer(tenancyEnv.srv)
	})
	return tenancyEnv.srv, tenancyEnv.http.URL
}

// location returns meta.location of a created user.
func location(t *testing.T, r *response) string {
	t.Helper()
	r.must(t, http.StatusCreated)
	loc, _ := r.Body["meta"].(map[string]any)["location"].(string)
	if h := r.Header.Get("Location"); h != loc {
		t.Errorf("Location header %q differs from meta.location %q", h, loc)
	}
	return loc
}

func TestSubdomain(t *testing.T) {
	t.Parallel()
	_, server := tenancyServer(t)
	a, b := newTenant(t), newTenant(t)
	bad := badTokenBody(t, a)
	at := func(host, prefix string, token string) *client {
		return &client{t: t, tenant: a.tenant, token: token, prefix: prefix, server: server, host: host}
	}
	aHost := a.tenant + "." + tenantDomain

	t.Run("OK", func(t *testing.T) {
		c := at(aHost, "/scim/v2", a.token)
		id := c.createUser("sub-user")
		c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		// Host names are case-insensitive, may end in a dot and carry a port.
		at(strings.ToUpper(aHost)+".:8443", "/scim/v2", a.token).do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		// Discovery URLs follow the subdomain too.
		spc := c.do("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
		if loc, _ := spc.Body["meta"].(map[string]any)["location"].(string); loc != "https://"+aHost+"/scim/v2/ServiceProviderConfig" {
			t.Errorf("ServiceProviderConfig location %q", loc)
		}
	})

	t.Run("Location", func(t *testing.T) {
		for _, tt := range []struct {
			name, host, prefix, want string
		}{
			{"subdomain", aHost, "/scim/v2", "https://" + aHost + "/scim/v2/Users/"},
			{"subdomain with port", aHost + ":8443", "/scim/v2", "https://" + aHost + ":8443/scim/v2/Users/"},
			{"path", tenantDomain, a.prefix, baseURL + a.prefix + "/Users/"},
			{"path on another host", "127.0.0.1:9", a.prefix, baseURL + a.prefix + "/Users/"},
			{"token-resolved", tenantDomain, "/scim/v2", baseURL + "/scim/v2/Users/"},
			{"token-resolved on another host", "", "/scim/v2", baseURL + "/scim/v2/Users/"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				loc := location(t, at(tt.host, tt.prefix, a.token).do("POST", "/Users", user("loc-"+strings.ReplaceAll(tt.name, " ", "-"))))
				if !strings.HasPrefix(loc, tt.want) || len(loc) != len(tt.want)+36 {
					t.Errorf("location %q, want %s{id}", loc, tt.want)
				}
			})
		}
	})

	t.Run("JWT", func(t *testing.T) {
		is := registerIssuers(t, a)
		// Audience: the subdomain URL is one of the tenant's own.
		tok := sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "aud", "https://"+aHost+"/scim/v2"), "")
		at(aHost, "/scim/v2", tok).do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
		at(b.tenant+"."+tenantDomain, "/scim/v2", tok).do("GET", "/Users?count=0", nil).must(t, http.StatusUnauthorized)
	})

	for _, tt := range []struct {
		name, host, prefix, token string
	}{
		{"other tenant's token", aHost, "/scim/v2", b.token},
		{"token on other tenant's host", b.tenant + "." + tenantDomain, "/scim/v2", a.token},
		{"host and path disagree", aHost, b.prefix, a.token},
		{"unknown tenant", "nosuchtenant." + tenantDomain, "/scim/v2", a.token},
		{"nested subdomain", "x." + aHost, "/scim/v2", a.token},
		{"invalid tenant id", "Bad-Name." + tenantDomain, "/scim/v2", a.token},
		{"empty label", "." + tenantDomain, "/scim/v2", a.token},
		{"bad port", aHost + ":99999", "/scim/v2", a.token},
		{"non-numeric port", aHost + ":https", "/scim/v2", a.token},
		{"no credential", aHost, "/scim/v2", ""},
	} {
		t.Run("Refused/"+tt.name, func(t *testing.T) {
			r := at(tt.host, tt.prefix, tt.token).do("GET", "/Users?count=0", nil)
			r.scimError(t, http.StatusUnauthorized, "")
			if string(r.Raw) != bad {
				t.Errorf("body %s differs from a bad token's %s", r.Raw, bad)
			}
		})
	}
}

// gatewaySign signs a request as README.md says a gateway must: hex
// HMAC-SHA256 of "bulkhead-gateway-v1\n{tenant}\n{METHOD}\n{target}\n{ts}".
func gatewaySign(secret, tenantID, method, target string, ts int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("bulkhead-gateway-v1\n" + tenantID + "\n" + method + "\n" + target + "\n" + strconv.FormatInt(ts, 10)))
	return hex.EncodeToString(mac.Sum(nil))
}

// gatewayRequest is a request as a gateway at remoteAddr sends it.
type gatewayRequest struct {
	remote, method, target, tenant string
	body                           string
	bearer                         string
	forwardedFor                   string
	// signature settings; zero values sign correctly
	secret, signTenant, signMethod, signTarget string
	skew                                       time.Duration
	noSignature                                bool
}

func (g gatewayRequest) send(t *testing.T, srv http.Handler) *response {
	t.Helper()
	var body io.Reader
	if g.body != "" {
		body = strings.NewReader(g.body)
	}
	req := httptest.NewRequest(g.method, g.target, body)
	req.Host = tenantDomain
	req.RemoteAddr = g.remote
	if g.body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if g.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+g.bearer)
	}
	if g.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", g.forwardedFor)
	}
	if g.tenant != "" {
		req.Header.Set("X-Tenant-ID", g.tenant)
	}
	if !g.noSignature {
		pick := func(v, def string) string {
			if v != "" {
				return v
			}
			return def
		}
		ts := time.Now().Add(g.skew).Unix()
		req.Header.Set("X-Bulkhead-Gateway-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Bulkhead-Gateway-Signature", gatewaySign(pick(g.secret, gatewaySecret),
			pick(g.signTenant, g.tenant), pick(g.signMethod, g.method), pick(g.signTarget, g.target), ts))
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	out := &response{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if len(out.Raw) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			t.Fatalf("body is not JSON: %s", out.Raw)
		}
	}
	return out
}

func TestGateway(t *testing.T) {
	t.Parallel()
	srv, _ := tenancyServer(t)
	a, b := newTenant(t), newTenant(t)
	aID := a.createUser("gw-a")
	bad := badTokenBody(t, a)
	const trusted, untrusted = "10.9.3.4:51000", "192.0.2.7:51000"
	usersOf := func(t *testing.T, r *response) []string {
		var names []string
		for _, u := range r.must(t, http.StatusOK).resources() {
			names = append(names, u["userName"].(string))
		}
		return names
	}

	t.Run("OK", func(t *testing.T) {
		for _, tt := range []struct {
			name, remote, target string
		}{
			{"token-resolved URL", trusted, "/scim/v2/Users"},
			{"path URL", trusted, a.prefix + "/Users"},
			{"query is signed", trusted, "/scim/v2/Users?filter=" + q(`userName eq "gw-a"`)},
			{"IPv6 proxy", "[fd00:9::1]:443", "/scim/v2/Users"},
			{"IPv4-mapped IPv6 proxy", "[::ffff:10.9.0.1]:443", "/scim/v2/Users"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := gatewayRequest{remote: tt.remote, method: "GET", target: tt.target, tenant: a.tenant}.send(t, srv)
				if got := usersOf(t, r); len(got) != 1 || got[0] != "gw-a" {
					t.Errorf("users %v, want [gw-a]", got)
				}
			})
		}
		// Writes work and locations follow the URL the gateway used. The
		// audit trail names the gateway and the client address it forwards.
		r := gatewayRequest{remote: trusted, method: "POST", target: "/scim/v2/Users", tenant: a.tenant, forwardedFor: "198.51.100.9",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gw-created"}`}.send(t, srv)
		if loc := location(t, r); !strings.HasPrefix(loc, baseURL+"/scim/v2/Users/") {
			t.Errorf("location %q", loc)
		}
		a.do("GET", "/Users/"+r.str("id"), nil).must(t, http.StatusOK)
		if e := scimAudit(t, a)[0]; e.Actor != "gateway" || e.Target != r.str("id") || e.ClientAddr != "198.51.100.9" {
			t.Errorf("audit event %+v", e)
		}
	})

	t.Run("UntrustedAddressIgnored", func(t *testing.T) {
		// A signed header for B from an untrusted address is ignored: the
		// bearer token decides, and it is A's.
		r := gatewayRequest{remote: untrusted, method: "GET", target: "/scim/v2/Users?filter=" + q(`userName eq "gw-a"`), tenant: b.tenant, bearer: a.token}.send(t, srv)
		if got := usersOf(t, r); len(got) != 1 || got[0] != "gw-a" {
			t.Errorf("users %v, want A's [gw-a]", got)
		}
		// Nor does an untrusted address write a forwarded-for address into
		// the audit trail.
		r = gatewayRequest{remote: untrusted, method: "POST", target: "/scim/v2/Users", tenant: b.tenant, bearer: a.token, forwardedFor: "198.51.100.9",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"gw-untrusted"}`}.send(t, srv)
		r.must(t, http.StatusCreated)
		if e := scimAudit(t, a)[0]; e.Actor != "token:"+a.token[:11] || e.ClientAddr != "192.0.2.7" {
			t.Errorf("audit event %+v", e)
		}
		// Without a token it is an ordinary unauthenticated request.
		r = gatewayRequest{remote: untrusted, method: "GET", target: "/scim/v2/Users/" + aID, tenant: a.tenant}.send(t, srv)
		r.scimError(t, http.StatusUnauthorized, "")
		// X-Forwarded-For does not make an address trusted.
		req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		req.RemoteAddr = untrusted
		req.Header.Set("X-Forwarded-For", "10.9.3.4")
		req.Header.Set("X-Real-IP", "10.9.3.4")
		req.Header.Set("X-Tenant-ID", a.tenant)
		ts := time.Now().Unix()
		req.Header.Set("X-Bulkhead-Gateway-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Bulkhead-Gateway-Signature", gatewaySign(gatewaySecret, a.tenant, "GET", "/scim/v2/Users", ts))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("forwarded-for a trusted address: %d, want 401", rec.Code)
		}
	})

	t.Run("TrustedWithoutHeader", func(t *testing.T) {
		// From the gateway's address without X-Tenant-ID, normal auth applies.
		r := gatewayRequest{remote: trusted, method: "GET", target: a.prefix + "/Users/" + aID, bearer: a.token, noSignature: true}.send(t, srv)
		r.must(t, http.StatusOK)
		r = gatewayRequest{remote: trusted, method: "GET", target: a.prefix + "/Users/" + aID, noSignature: true}.send(t, srv)
		r.must(t, http.StatusUnauthorized)
	})

	target := "/scim/v2/Users"
	for _, tt := range []struct {
		name string
		g    gatewayRequest
	}{
		{"no signature", gatewayRequest{noSignature: true}},
		{"no signature but a valid token", gatewayRequest{noSignature: true, bearer: a.token}},
		{"wrong secret", gatewayRequest{secret: "not-the-gateway-secret"}},
		{"expired", gatewayRequest{skew: -6 * time.Minute}},
		{"from the future", gatewayRequest{skew: 6 * time.Minute}},
		{"signed for another tenant", gatewayRequest{signTenant: b.tenant}},
		{"signed for another method", gatewayRequest{signMethod: "DELETE"}},
		{"signed for another path", gatewayRequest{signTarget: "/scim/v2/Groups"}},
		{"signed for another query", gatewayRequest{signTarget: target + "?count=1"}},
		{"unknown tenant", gatewayRequest{tenant: "nosuchtenant"}},
		{"invalid tenant", gatewayRequest{tenant: "../b"}},
		{"header names another tenant than the path", gatewayRequest{target: b.prefix + "/Users"}},
	} {
		t.Run("Refused/"+tt.name, func(t *testing.T) {
			g := tt.g
			g.remote, g.method = trusted, "GET"
			if g.target == "" {
				g.target = target
			}
			if g.tenant == "" {
				g.tenant = a.tenant
			}
			r := g.send(t, srv)
			r.scimError(t, http.StatusUnauthorized, "")
			if string(r.Raw) != bad {
				t.Errorf("body %s differs from a bad token's %s", r.Raw, bad)
			}
		})
	}
}
