package credential_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app/credential"
)

// TestActorLongSubject: a JWT's long sub is cut to 100 bytes in the actor
// at a character boundary, so that the audit record and the events that
// carry the actor stay valid UTF-8 (PostgreSQL refuses them otherwise).
func TestActorLongSubject(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"a" + strings.Repeat("é", 60), "ab" + strings.Repeat("日", 40), strings.Repeat("x", 150)} {
		p := credential.Principal{Kind: credential.CredentialJWT, TokenPrefix: "jwt:0123abcd", Subject: sub}
		got := p.Actor()
		rest, ok := strings.CutPrefix(got, "jwt:0123abcd:")
		if !ok || !utf8.ValidString(got) || len(rest) > 100 || len(rest) < 97 || !strings.HasPrefix(sub, rest) {
			t.Errorf("Actor() for a sub of %d bytes = %q", len(sub), got)
		}
	}
}
