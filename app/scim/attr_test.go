package scim

import "testing"

// TestIsAttrName: what LookupAttr takes as a plain attribute name, without
// the parser, is exactly what the parser reads as a bare attribute name,
// and anything else still goes to the parser.
func TestIsAttrName(t *testing.T) {
	names := []string{"userName", "USERNAME", "emails", "x-y", "a_1", "displayName"}
	for _, rt := range []*ResourceType{UserResource, GroupResource} {
		for _, a := range rt.core.Attributes {
			names = append(names, a.Name)
		}
	}
	for _, name := range names {
		if !isAttrName(name) {
			t.Errorf("isAttrName(%q) = false", name)
			continue
		}
		ap, err := parseAttrPath(name)
		if err != nil || ap.URIPrefix != nil || ap.SubAttribute != nil || ap.AttributeName != name {
			t.Errorf("the parser reads %q as %+v, %v; want the bare name", name, ap, err)
		}
	}
	for _, path := range []string{"", "name.givenName", "1abc", "-a", "_a", "$ref", "emails[type eq \"work\"]",
		"urn:ietf:params:scim:schemas:core:2.0:User:userName", "user name", "ä"} {
		if isAttrName(path) {
			t.Errorf("isAttrName(%q) = true", path)
		}
	}
}
