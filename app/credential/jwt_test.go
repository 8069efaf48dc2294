package credential_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func pemOf(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestAddIssuer(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	cs := credential.NewService(s)
	ctx := context.Background()
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "globex"}, "test"); err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkix256 := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf(t, "PUBLIC KEY", der)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	rsaJWK := map[string]any{"kty": "RSA", "kid": "r1", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())}
	point, _ := ecKey.PublicKey.Bytes()
	ecJWK := map[string]any{"kty": "EC", "crv": "P-256", "kid": "e1", "x": b64(point[1:33]), "y": b64(point[33:])}
	jwks := func(keys ...any) []byte { b, _ := json.Marshal(map[string]any{"keys": keys}); return b }
	single, _ := json.Marshal(ecJWK)
	withD := map[string]any{"kty": "EC", "crv": "P-256", "x": ecJWK["x"], "y": ecJWK["y"], "d": "AAAA"}
	encKey := map[string]any{"kty": "RSA", "use": "enc", "n": rsaJWK["n"], "e": rsaJWK["e"]}

	for _, tt := range []struct {
		name    string
		alg     string
		key     []byte
		summary string // "" when refused
	}{
		{"RSA PKIX", credential.AlgRS256, pkix256(&rsaKey.PublicKey), "RSA 2048-bit public key"},
		{"RSA PKCS1", credential.AlgRS256, pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), "RSA 2048-bit public key"},
		{"certificate", credential.AlgRS256, pemOf(t, "CERTIFICATE", certDER), "RSA 2048-bit public key"},
		{"two PEM keys", credential.AlgRS256, append(pkix256(&rsaKey.PublicKey), pemOf(t, "CERTIFICATE", certDER)...), "2 RSA public keys"},
		{"RSA JWKS", credential.AlgRS256, jwks(rsaJWK, encKey, ecJWK), "RSA 2048-bit public key (kid r1)"},
		{"EC PEM", credential.AlgES256, pkix256(&ecKey.PublicKey), "EC P-256 public key"},
		{"EC JWKS", credential.AlgES256, jwks(rsaJWK, ecJWK), "EC P-256 public key (kid e1)"},
		{"single JWK", credential.AlgES256, single, "EC P-256 public key (kid e1)"},
		{"HS256", credential.AlgHS256, []byte("0123456789abcdef0123456789abcdef"), "shared secret, 32 bytes"},
		{"ErrShortSecret", credential.AlgHS256, []byte("0123456789abcdef0123456789abcde"), ""},
		{"ErrPEMAsSecret", credential.AlgHS256, pkix256(&rsaKey.PublicKey), ""},
		{"ErrJWKSAsSecret", credential.AlgHS256, jwks(rsaJWK, rsaJWK, rsaJWK), ""},
		{"ErrPrivateKey", credential.AlgRS256, pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), ""},
		{"ErrPrivateJWK", credential.AlgES256, jwks(withD), ""},
		{"ErrShortRSA", credential.AlgRS256, pkix256(&smallRSA.PublicKey), ""},
		{"ErrRSAForES256", credential.AlgES256, pkix256(&rsaKey.PublicKey), ""},
		{"ErrECForRS256", credential.AlgRS256, pkix256(&ecKey.PublicKey), ""},
		{"ErrP384", credential.AlgES256, pkix256(&p384.PublicKey), ""},
		{"ErrNoUsableJWK", credential.AlgRS256, jwks(ecJWK, encKey), ""},
		{"ErrGarbage", credential.AlgRS256, []byte("not a key"), ""},
		{"ErrUnknownAlg", "none", []byte("0123456789abcdef0123456789abcdef"), ""},
		{"ErrPEMThenGarbage", credential.AlgRS256, append(pkix256(&rsaKey.PublicKey), "trailing"...), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is, err := cs.AddIssuer(ctx, "acme", credential.NewIssuer{Issuer: "https://" + tt.name, Algorithm: tt.alg, Key: tt.key}, "test")
			if tt.summary == "" {
				if app.ErrorCode(err) != app.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(is.KeySummary) < len(tt.summary) || is.KeySummary[:len(tt.summary)] != tt.summary {
				t.Errorf("summary %q, want %q", is.KeySummary, tt.summary)
			}
		})
	}

	t.Run("ErrUnknownTenant", func(t *testing.T) {
		_, err := cs.AddIssuer(ctx, "nosuch", credential.NewIssuer{Issuer: "i", Algorithm: credential.AlgHS256, Key: []byte("0123456789abcdef0123456789abcdef")}, "test")
		if app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrEmptyIssuer", func(t *testing.T) {
		_, err := cs.AddIssuer(ctx, "acme", credential.NewIssuer{Issuer: " ", Algorithm: credential.AlgHS256, Key: []byte("0123456789abcdef0123456789abcdef")}, "test")
		if app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("RemoveOnlyOwn", func(t *testing.T) {
		list, err := cs.FindIssuers(ctx, "acme")
		if err != nil || len(list) == 0 {
			t.Fatalf("%d issuers, %v", len(list), err)
		}
		if err := cs.RemoveIssuer(ctx, "globex", list[0].ID.String(), "test"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("removing another tenant's issuer: %v", err)
		}
		if err := cs.RemoveIssuer(ctx, "acme", "not-a-uuid", "test"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("removing a malformed id: %v", err)
		}
		if err := cs.RemoveIssuer(ctx, "acme", list[0].ID.String(), "test"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFindCredentials(t *testing.T) {
	db := storetest.NewDB(t)
	s := tenant.NewService(db)
	cs := credential.NewService(s)
	ctx := context.Background()
	_, tok, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateToken(ctx, "acme", "second", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeToken(ctx, "acme", second.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE control.tokens SET last_used_at = now() WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AddIssuer(ctx, "acme", credential.NewIssuer{Issuer: "https://idp", Algorithm: credential.AlgHS256, Key: []byte("0123456789abcdef0123456789abcdef")}, "test"); err != nil {
		t.Fatal(err)
	}
	modes := credential.TenancyModes{BaseURL: "https://scim.example.com", TenantDomain: "t.example.com", Gateway: true}
	c, err := cs.FindCredentials(ctx, "acme", modes)
	if err != nil {
		t.Fatal(err)
	}
	if c.ActiveTokens != 1 || c.TokensLastUsedAt == nil || len(c.Issuers) != 1 || c.Issuers[0].LastUsedAt != nil ||
		!c.Subdomain || !c.Gateway || c.SubdomainURL != "https://acme.t.example.com/scim/v2" ||
		c.PathURL != "https://scim.example.com/tenants/acme/scim/v2" || c.SharedURL != "https://scim.example.com/scim/v2" ||
		len(c.JWTAudiences) != 2 {
		b, _ := json.Marshal(c)
		t.Fatalf("credentials = %s", b)
	}
	c, err = cs.FindCredentials(ctx, "acme", credential.TenancyModes{BaseURL: "http://127.0.0.1:8080"})
	if err != nil || c.Subdomain || c.Gateway || c.SubdomainURL != "" || len(c.JWTAudiences) != 1 {
		t.Fatalf("credentials without modes = %+v, %v", c, err)
	}
	if _, err := cs.FindCredentials(ctx, "nosuch", modes); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// BenchmarkAuthenticateJWT measures an RS256 JWT's authentication with the
// tenant's credentials cached (the listener running) and read from the
// database on every call.
func BenchmarkAuthenticateJWT(b *testing.B) {
	db := storetest.NewDB(b)
	s := tenant.NewService(db)
	cs := credential.NewService(s)
	ctx := context.Background()
	if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: "acme"}, "test"); err != nil {
		b.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if _, err := cs.AddIssuer(ctx, "acme", credential.NewIssuer{Issuer: "https://idp", Algorithm: credential.AlgRS256, Key: pemOf(b, "PUBLIC KEY", der)}, "test"); err != nil {
		b.Fatal(err)
	}
	aud := "https://scim.example.com/tenants/acme/scim/v2"
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://idp", "aud": aud, "exp": time.Now().Add(time.Hour).Unix(), "tenant_id": "acme", "scope": "scim:read",
	}).SignedString(key)
	audiences := func(string) []string { return []string{aud} }
	run := func(b *testing.B, a *credential.Auth) {
		for b.Loop() {
			if _, err := a.AuthenticateJWT(ctx, tok, audiences); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("database", func(b *testing.B) { run(b, credential.NewAuth(cs, slog.New(slog.DiscardHandler))) })
	b.Run("cached", func(b *testing.B) {
		a := credential.NewAuth(cs, slog.New(slog.DiscardHandler))
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go a.Run(rctx)
		time.Sleep(300 * time.Millisecond) // the listener connects
		run(b, a)
	})
}
