package credential_test

import (
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/credential"
)

// TestDescribe checks what the activity feed may show of a credential that
// did not work: a token's public prefix only when a secret follows it, a
// JWT's issuer, and nothing of anything else.
func TestDescribe(t *testing.T) {
	t.Parallel()
	token := "bh_AbCdEfGh" + strings.Repeat("s", 35)
	// {"alg":"none"}.{"iss":"https://idp.example","tenant_id":"acme","exp":1}.sig
	jwt := "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwidGVuYW50X2lkIjoiYWNtZSIsImV4cCI6MX0.c2lnbmF0dXJl"
	for _, tt := range []struct {
		name, raw, kind, prefix, issuer string
		expired                         bool
	}{
		{"Token", token, credential.CredentialToken, "bh_AbCdEfGh", "", false},
		{"ShortTokenHasNoPrefix", "bh_AbCdEfGh12", credential.CredentialToken, "", "", false},
		{"OddCharactersNoPrefix", "bh_AbC<>EfGh" + strings.Repeat("s", 35), credential.CredentialToken, "", "", false},
		{"JWT", jwt, credential.CredentialJWT, "", "https://idp.example", true},
		{"Password", "hunter2", "", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := credential.Describe(tt.raw)
			if p.Kind != tt.kind || p.Prefix != tt.prefix || p.Issuer != tt.issuer || p.Expired != tt.expired {
				t.Errorf("Describe = %+v", p)
			}
			if tt.kind == credential.CredentialToken && len(p.Hash) != 32 {
				t.Errorf("a token's hash has %d bytes", len(p.Hash))
			}
			if tt.kind == credential.CredentialJWT && p.TenantID != "acme" {
				t.Errorf("tenant claim %q", p.TenantID)
			}
		})
	}
}
