package scim

import "testing"

// TestQuoteBareValues: filters written as Entra ID's documentation writes
// them, with bare values, get their quotes; everything else stays.
func TestQuoteBareValues(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`userName eq jdoe@contoso.com`, `userName eq "jdoe@contoso.com"`},
		{`externalId eq 0a21f0f2-8d2a and active eq true`, `externalId eq "0a21f0f2-8d2a" and active eq true`},
		{`(userName eq bob) or title pr`, `(userName eq "bob") or title pr`},
		{`emails[type eq work and value co x]`, `emails[type eq "work" and value co "x"]`},
		{`userName eq "already"`, `userName eq "already"`},
		{`x eq 12 and y eq null`, `x eq 12 and y eq null`},
		{`userName eq "with \"quote\"" or nickName eq bare`, `userName eq "with \"quote\"" or nickName eq "bare"`},
	} {
		if got := quoteBareValues(tt.in); got != tt.want {
			t.Errorf("quoteBareValues(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
