package app

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestNewSecret: a secret is its prefix and 32 random bytes in unpadded
// base64url, never the same twice, and its hash is SHA-256's 32 bytes.
func TestNewSecret(t *testing.T) {
	a, err := NewSecret("bhe_")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret("bhe_")
	rest, ok := strings.CutPrefix(a, "bhe_")
	if raw, err := base64.RawURLEncoding.DecodeString(rest); !ok || err != nil || len(raw) != 32 {
		t.Errorf("NewSecret = %q, want bhe_ and 32 bytes of base64url", a)
	}
	if a == b {
		t.Error("two secrets are the same")
	}
	if h := HashSecret(a); len(h) != 32 || string(h) == string(HashSecret(b)) {
		t.Errorf("HashSecret(%q) = %x", a, h)
	}
}
