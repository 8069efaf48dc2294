package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// issuers is a tenant's set of registered test issuers, one per algorithm,
// with the keys that sign for them.
type issuers struct {
	rsaKey   *rsa.PrivateKey
	rsaPEM   []byte
	ecKey    *ecdsa.PrivateKey
	hmac     []byte
	rs, es   *credential.Issuer
	hs       *credential.Issuer
	tenantID string
}

const (
	issRS = "https://rs.idp.example"
	issES = "https://es.idp.example"
	issHS = "https://hs.idp.example"
)

// registerIssuers registers an RS256 issuer (PEM), an ES256 issuer (a JWKS
// document with a kid) and an HS256 issuer for the tenant.
func registerIssuers(t *testing.T, c *client) *issuers {
	t.Helper()
	ctx := context.Background()
	is := &issuers{tenantID: c.tenant, hmac: []byte("0123456789abcdef0123456789abcdef-hs256")}
	var err error
	if is.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&is.rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	is.rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if is.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	point, err := is.ecKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []any{
		map[string]any{"kty": "EC", "crv": "P-256", "kid": "es-1", "use": "sig", "alg": "ES256", "x": b64(point[1:33]), "y": b64(point[33:])},
	}})
	add := func(iss, alg string, key []byte) *credential.Issuer {
		r, err := credential.NewService(env.tenants).AddIssuer(ctx, c.tenant, credential.NewIssuer{Issuer: iss, Algorithm: alg, Key: key}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	is.rs = add(issRS, credential.AlgRS256, is.rsaPEM)
	is.es = add(issES, credential.AlgES256, jwks)
	is.hs = add(issHS, credential.AlgHS256, is.hmac)
	return is
}

// claims returns valid claims for the tenant from iss, with every scope.
func (is *issuers) claims(iss string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": iss, "sub": "idp-sync", "aud": baseURL + "/tenants/" + is.tenantID + "/scim/v2",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "tenant_id": is.tenantID,
		"scope": "scim:read scim:create scim:update scim:delete scim:list",
	}
}

// sign signs claims with method and key, setting kid when not empty.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// badTokenBody is the 401 body of an unknown opaque token: every refused
// credential must get exactly this.
func badTokenBody(t *testing.T, c *client) string {
	t.Helper()
	r := (&client{t: t, token: "bh_unknown", prefix: c.prefix}).do("GET", "/Users", nil)
	r.scimError(t, http.StatusUnauthorized, "")
	return string(r.Raw)
}

func TestJWT(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	is := registerIssuers(t, a)
	bad := badTokenBody(t, a)
	as := func(token string) *client { return &client{t: t, tenant: a.tenant, token: token, prefix: a.prefix} }

	t.Run("OK", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token string
		}{
			{"RS256 PEM", sign(t, jwt.SigningMethodRS256, is.rsaKey, is.claims(issRS), "")},
			{"ES256 JWKS", sign(t, jwt.SigningMethodES256, is.ecKey, is.claims(issES), "es-1")},
			{"ES256 JWKS without kid", sign(t, jwt.SigningMethodES256, is.ecKey, is.claims(issES), "")},
			{"HS256", sign(t, jwt.SigningMethodHS256, is.hmac, is.claims(issHS), "")},
			{"expired within the clock skew", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "exp", time.Now().Add(-30*time.Second).Unix()), "")},
			{"aud as an array", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "aud", []string{"other", baseURL + "/tenants/" + a.tenant + "/scim/v2"}), "")},
			{"scp array", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "scope", nil, "scp", []string{"scim:list", "scim:create"}), "")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				as(tt.token).do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
			})
		}
		// The user created with a JWT is in the tenant, and the write is
		// audited under the issuer and subject.
		c := as(sign(t, jwt.SigningMethodRS256, is.rsaKey, is.claims(issRS), ""))
		id := c.createUser("jwt-user")
		a.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		if e := scimAudit(t, a)[0]; e.Target != id || e.Actor != "jwt:"+is.rs.ID.String()[:8]+":idp-sync" {
			t.Errorf("audit event %+v", e)
		}
	})

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tt := range []struct {
		name  string
		token string
	}{
		{"expired", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "exp", time.Now().Add(-2*time.Minute).Unix()), "")},
		{"no exp", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "exp", nil), "")},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "nbf", time.Now().Add(2*time.Minute).Unix()), "")},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "iat", time.Now().Add(3*time.Minute).Unix()), "")},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "iss", "https://evil.example"), "")},
		{"no issuer", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "iss", nil), "")},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "aud", "https://other.example/scim/v2"), "")},
		{"another tenant's audience", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "aud", baseURL+b.prefix), "")},
		{"no audience", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "aud", nil), "")},
		{"wrong tenant claim", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "tenant_id", b.tenant), "")},
		{"unknown tenant claim", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "tenant_id", "nosuchtenant"), "")},
		{"no tenant claim", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "tenant_id", nil), "")},
		{"bad signature", sign(t, jwt.SigningMethodRS256, other, is.claims(issRS), "")},
		{"tampered claims", tamper(t, sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "scope", "scim:read"), ""), "scope", "scim:read scim:delete")},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, is.claims(issRS), "")},
		{"HS256 with the RS256 issuer's PEM as secret", sign(t, jwt.SigningMethodHS256, is.rsaPEM, is.claims(issRS), "")},
		{"RS256 for the HS256 issuer", sign(t, jwt.SigningMethodRS256, is.rsaKey, is.claims(issHS), "")},
		{"HS256 with the wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!!"), is.claims(issHS), "")},
		{"unknown kid", sign(t, jwt.SigningMethodES256, is.ecKey, is.claims(issES), "es-2")},
		{"garbage", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln"},
		{"tenant claim with NUL", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "tenant_id", a.tenant+"\x00"), "")},
		{"issuer with NUL", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "iss", issRS+"\x00"), "")},
		{"subject with NUL", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "sub", "idp\x00sync"), "")},
		{"subject too long", sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "sub", strings.Repeat("s", 257)), "")},
	} {
		t.Run("Refused/"+tt.name, func(t *testing.T) {
			r := as(tt.token).do("GET", "/Users?count=0", nil)
			r.scimError(t, http.StatusUnauthorized, "")
			if string(r.Raw) != bad {
				t.Errorf("body %s differs from a bad opaque token's %s", r.Raw, bad)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("OtherTenantsURL", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodRS256, is.rsaKey, is.claims(issRS), "")
		r := (&client{t: t, token: tok, prefix: b.prefix}).do("GET", "/Users?count=0", nil)
		r.scimError(t, http.StatusUnauthorized, "")
		if string(r.Raw) != bad {
			t.Errorf("body %s differs from a bad opaque token's", r.Raw)
		}
		// At /scim/v2 the JWT picks its own tenant.
		u := (&client{t: t, token: tok, prefix: "/scim/v2"}).do("GET", "/Users?filter="+q(`userName eq "jwt-user"`), nil).must(t, http.StatusOK)
		if loc, _ := u.resources()[0]["meta"].(map[string]any)["location"].(string); !strings.HasPrefix(loc, baseURL+"/scim/v2/Users/") {
			t.Errorf("location %q, want it under %s/scim/v2", loc, baseURL)
		}
	})

	t.Run("ScopeNarrows", func(t *testing.T) {
		c := as(sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "scope", "scim:read scim:list"), ""))
		c.do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
		r := c.do("POST", "/Users", user("not-created"))
		r.scimError(t, http.StatusForbidden, "")
		if !strings.Contains(r.str("detail"), "can_create") {
			t.Errorf("detail %q does not name can_create", r.str("detail"))
		}
		// Bulk checks each operation against the narrowed permissions too.
		bulk := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": []any{
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "x", "data": user("bulk-not-created")},
		}}
		c.do("POST", "/Bulk", bulk).must(t, http.StatusOK)
		if n := a.do("GET", "/Users?count=0&filter="+q(`userName eq "not-created" or userName eq "bulk-not-created"`), nil).Body["totalResults"]; n != float64(0) {
			t.Errorf("%v users created without scim:create", n)
		}
	})

	t.Run("ScopeNeverWidens", func(t *testing.T) {
		c2 := newTenant(t)
		is2 := registerIssuers(t, c2)
		setPermissions(t, c2, func(p *tenant.Permissions) { p.CanDelete = false })
		id := c2.createUser("keep")
		tok := sign(t, jwt.SigningMethodRS256, is2.rsaKey, is2.claims(issRS), "")
		r := (&client{t: t, token: tok, prefix: c2.prefix}).do("DELETE", "/Users/"+id, nil)
		r.scimError(t, http.StatusForbidden, "")
	})

	t.Run("NoScopeMeansDiscoveryOnly", func(t *testing.T) {
		c := as(sign(t, jwt.SigningMethodRS256, is.rsaKey, with(is.claims(issRS), "scope", nil), ""))
		c.do("GET", "/ServiceProviderConfig", nil).must(t, http.StatusOK)
		for _, m := range []string{"GET /Users", "POST /Users"} {
			method, path, _ := strings.Cut(m, " ")
			c.do(method, path, user("x")).scimError(t, http.StatusForbidden, "")
		}
	})

	t.Run("ConfiguredAudience", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		_, err := credential.NewService(env.tenants).AddIssuer(context.Background(), a.tenant, credential.NewIssuer{
			Issuer: "https://aud.idp.example", Algorithm: credential.AlgES256, Audience: "bulkhead-acme",
			Key: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		}, "test")
		if err != nil {
			t.Fatal(err)
		}
		cl := with(is.claims("https://aud.idp.example"), "aud", "bulkhead-acme")
		synced(t)
		as(sign(t, jwt.SigningMethodES256, key, cl, "")).do("GET", "/Users?count=0", nil).must(t, http.StatusOK)
		// The default audience is not accepted for this issuer.
		as(sign(t, jwt.SigningMethodES256, key, with(cl, "aud", baseURL+a.prefix), "")).do("GET", "/Users?count=0", nil).must(t, http.StatusUnauthorized)
	})

	t.Run("RemovedIssuerRefused", func(t *testing.T) {
		c3 := newTenant(t)
		is3 := registerIssuers(t, c3)
		cl := &client{t: t, token: sign(t, jwt.SigningMethodHS256, is3.hmac, is3.claims(issHS), ""), prefix: c3.prefix}
		cl.do("GET", "/Users?count=0", nil).must(t, http.StatusOK) // cached now
		if err := credential.NewService(env.tenants).RemoveIssuer(context.Background(), c3.tenant, is3.hs.ID.String(), "test"); err != nil {
			t.Fatal(err)
		}
		synced(t)
		cl.do("GET", "/Users?count=0", nil).must(t, http.StatusUnauthorized)
	})

	t.Run("LastUsed", func(t *testing.T) {
		eventually5 := time.Now().Add(10 * time.Second)
		for {
			list, err := credential.NewService(env.tenants).FindIssuers(context.Background(), a.tenant)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range list {
				if i.ID == is.rs.ID && i.LastUsedAt != nil {
					return
				}
			}
			if time.Now().After(eventually5) {
				t.Fatal("the RS256 issuer's last use was not recorded within 10 s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// tamper replaces a claim of a signed JWT without re-signing it.
func tamper(t *testing.T, token, claim string, value any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m[claim] = value
	b, _ := json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}
