package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestJWTCommands(t *testing.T) {
	url := storetest.URL(t)
	db := "--database-url=" + url
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", db); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubFile := write("rs.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	privFile := write("rs-private.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecFile := write("es.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	const secret = "a-shared-secret-of-more-than-32-bytes"

	t.Run("Add", func(t *testing.T) {
		code, out, errOut := cliRun(t, "", "tenant", "jwt", "add", "acme", "--issuer", "https://idp.example", "--alg", "RS256", "--key-file", pubFile, "--json", db)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var is struct {
			ID, Issuer, Algorithm, Key string
		}
		if err := json.Unmarshal([]byte(out), &is); err != nil || is.Issuer != "https://idp.example" || is.Algorithm != "RS256" || is.Key != "RSA 2048-bit public key" {
			t.Fatalf("add --json printed %s (%v)", out, err)
		}
		code, out, errOut = cliRun(t, secret+"\n", "tenant", "jwt", "add", "acme", "--issuer", "https://hs.example", "--alg", "hs256", "--secret-stdin", "--audience", "bulkhead", db)
		if code != 0 || strings.Contains(out, secret) || !strings.Contains(out, "shared secret, 37 bytes") {
			t.Fatalf("add HS256: exit %d, %s %s", code, out, errOut)
		}
	})

	t.Run("List", func(t *testing.T) {
		code, out, _ := cliRun(t, "", "tenant", "jwt", "list", "acme", "--json", db)
		var list struct {
			Issuers []map[string]any `json:"issuers"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Issuers) != 2 {
			t.Fatalf("list: exit %d, %s", code, out)
		}
		if strings.Contains(out, secret) || strings.Contains(out, "BEGIN") {
			t.Errorf("list prints key material: %s", out)
		}
		code, out, _ = cliRun(t, "", "tenant", "jwt", "list", "acme", db)
		if code != 0 || !strings.Contains(out, "https://hs.example") || strings.Contains(out, secret) {
			t.Errorf("list text: %s", out)
		}
	})

	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no key", "", []string{"--issuer", "i", "--alg", "RS256"}, 2, "exactly one"},
		{"both keys", secret, []string{"--issuer", "i", "--alg", "HS256", "--secret-stdin", "--key-file", pubFile}, 2, "exactly one"},
		{"no issuer", "", []string{"--alg", "RS256", "--key-file", pubFile}, 2, "--issuer"},
		{"bad alg", "", []string{"--issuer", "i", "--alg", "none", "--key-file", pubFile}, 2, "HS256, RS256 or ES256"},
		{"secret for RS256", secret, []string{"--issuer", "i", "--alg", "RS256", "--secret-stdin"}, 2, "--secret-stdin is for HS256"},
		{"short secret", "short", []string{"--issuer", "i", "--alg", "HS256", "--secret-stdin"}, 1, "at least 32 bytes"},
		{"public key as HS256 secret", "", []string{"--issuer", "i", "--alg", "HS256", "--key-file", pubFile}, 1, "looks like a public key"},
		{"private key", "", []string{"--issuer", "i", "--alg", "RS256", "--key-file", privFile}, 1, "private key"},
		{"EC key for RS256", "", []string{"--issuer", "i", "--alg", "RS256", "--key-file", ecFile}, 1, "register it with algorithm ES256"},
		{"missing file", "", []string{"--issuer", "i", "--alg", "RS256", "--key-file", filepath.Join(dir, "nope")}, 1, "read the key"},
	} {
		t.Run("AddRefused/"+tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, tt.stdin, append([]string{"tenant", "jwt", "add", "acme", db}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errOut, tt.want)
			}
		})
	}
	if code, _, errOut := cliRun(t, "", "tenant", "jwt", "add", "nosuch", "--issuer", "i", "--alg", "RS256", "--key-file", pubFile, db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown tenant: exit %d, %s", code, errOut)
	}

	t.Run("Remove", func(t *testing.T) {
		_, out, _ := cliRun(t, "", "tenant", "jwt", "list", "acme", "--json", db)
		var list struct {
			Issuers []struct {
				ID string `json:"issuer_id"`
			} `json:"issuers"`
		}
		_ = json.Unmarshal([]byte(out), &list)
		for _, is := range list.Issuers {
			if code, _, errOut := cliRun(t, "", "tenant", "jwt", "remove", "acme", is.ID, "--json", db); code != 0 {
				t.Fatalf("remove: %s", errOut)
			}
		}
		if code, _, errOut := cliRun(t, "", "tenant", "jwt", "remove", "acme", list.Issuers[0].ID, db); code != 1 || !strings.Contains(errOut, "has no issuer") {
			t.Errorf("remove twice: exit %d, %s", code, errOut)
		}
		if code, out, _ := cliRun(t, "", "tenant", "jwt", "list", "acme", "--json", db); code != 0 || !strings.Contains(out, `"issuers":[]`) {
			t.Errorf("list after remove: %s", out)
		}
	})

	t.Run("Audited", func(t *testing.T) {
		sdb, err := store.Open(context.Background(), url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		events, err := audit.FindEvents(context.Background(), sdb, "acme", 100)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range events {
			if e.Actor == "cli" {
				count[e.Action]++
			}
			if b, _ := json.Marshal(e.Details); strings.Contains(string(b), secret) {
				t.Errorf("audit event %s holds the secret", e.Action)
			}
		}
		if count["jwt_issuer.add"] != 2 || count["jwt_issuer.remove"] != 2 {
			t.Errorf("audited by the CLI: %v", count)
		}
	})
}

func TestServeTenancyFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"proxies without secret", []string{"--trusted-proxies", "10.0.0.0/8"}, "needs --gateway-secret"},
		{"secret without proxies", []string{"--gateway-secret", strings.Repeat("s", 32)}, "needs --trusted-proxies"},
		{"short secret", []string{"--trusted-proxies", "10.0.0.0/8", "--gateway-secret", "short"}, "at least 32 bytes"},
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/8,gateway.local", "--gateway-secret", strings.Repeat("s", 32)}, "neither a CIDR"},
		{"bad domain", []string{"--tenant-domain", "https://scim.example.com"}, "--tenant-domain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, "", append([]string{"serve", "--database-url=postgres://unused.invalid/x"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}
