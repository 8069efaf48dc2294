package scim

import (
	"reflect"
	"testing"
)

// eqFilters are filters parseEq takes, from what Okta and Entra ID send
// before they create a user or group, and its edges: escapes, a
// sub-attribute, an empty string, a value with spaces and "and" in it.
var eqFilters = []string{
	`userName eq "test.user@okta.local"`,
	`userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"`,
	`userName eq "non-existent user"`,
	`displayName eq "displayName"`,
	`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7a5e6e5f3a11"`,
	`id eq "2819c223-7f76-453a-919d-413861904646"`,
	`name.familyName EQ "O\"Malley"`,
	`emails.value Eq "a\\b\/c\u00E9\n"`,
	`userName eq ""`,
	`userName eq "Zoë Ünïcode ☃"`,
	`title eq "a and b or not (c)"`,
	`x-attr_1 eq "y"`,
}

// TestParseEqAsTheParser: parseEq returns what the parser returns for the
// filters it takes, and nil for those it leaves to the parser.
func TestParseEqAsTheParser(t *testing.T) {
	for _, f := range eqFilters {
		got := parseEq(f)
		want, err := parseWhole(f)
		if got == nil || err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parseEq %#v, the parser %#v (%v)", f, got, want, err)
		}
	}
	for _, f := range []string{
		`userName eq "a" and active eq true`, `userName ne "a"`, `userName eq  "a"`, ` userName eq "a"`,
		`userName eq "a" `, `userName eq a`, `userName eq "a`, `userName eq "a\"`, `userName eq "a"b"`,
		`userName eq "\u00e9"`, `userName eq "\x"`, "userName eq \"a\tb\"", `emails[type eq "work"]`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`, `$ref eq "a"`, `a.b.c eq "a"`,
		`.b eq "a"`, `1a eq "a"`, `active eq true`, `userName eq "` + "\xff" + `"`, `userName pr`,
	} {
		if e := parseEq(f); e != nil {
			t.Errorf("%s: parseEq took it as %#v", f, e)
		}
	}
}

// FuzzParseEq: whatever parseEq takes, the parser parses the same.
func FuzzParseEq(f *testing.F) {
	for _, s := range eqFilters {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseEq(s)
		if got == nil {
			return
		}
		want, err := parseWhole(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseEq %#v, the parser %#v (%v)", s, got, want, err)
		}
	})
}
