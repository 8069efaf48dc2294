package scim

import (
	"strings"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Rules are the readings of RFC 7643/7644 that identity providers
// disagree on, which a tenant picks (its profile and flags): the zero value
// is Bulkhead's lenient default, what Microsoft Entra ID expects.
type Rules struct {
	// ReplaceNoTarget makes a PATCH replace whose value filter matches
	// nothing fail with noTarget, as RFC 7644 §3.5.2.3 says, instead of
	// adding the value built from the filter.
	ReplaceNoTarget bool
	// DeclaredSchemas makes Normalize refuse, with invalidSyntax, a body
	// that names a schema URN the resource type does not serve, or uses an
	// extension its "schemas" does not list (RFC 7643 §3), instead of
	// ignoring the attribute.
	DeclaredSchemas bool
}

// WithRules returns a copy of rt that follows r; rt itself is unchanged.
func (rt *ResourceType) WithRules(r Rules) *ResourceType {
	if rt.rules == r {
		return rt
	}
	c := *rt
	c.rules = r
	return &c
}

// checkDeclared returns EINVALID (invalidSyntax) when body's "schemas"
// lists a URN rt does not serve, or a key of body is a URN, or is
// prefixed by one, that rt does not serve or "schemas" does not list.
func (rt *ResourceType) checkDeclared(body map[string]any) error {
	declared := map[string]bool{}
	for key, v := range body {
		if !strings.EqualFold(key, "schemas") {
			continue
		}
		list, _ := v.([]any)
		for _, u := range list {
			u, _ := u.(string)
			s := rt.schemaByURN(u)
			if s == nil {
				return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "schema %q is not served for %s resources", truncate(u), rt.Name)
			}
			declared[s.ID] = true
		}
	}
	for key := range body {
		if len(key) < 4 || !strings.EqualFold(key[:4], "urn:") {
			continue
		}
		s := rt.schemaByURN(key)
		if s == nil {
			if s, _ = rt.splitURN(key); s == rt.core && !strings.HasPrefix(strings.ToLower(key), strings.ToLower(rt.core.ID)+":") {
				return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "attribute %q names a schema not served for %s resources", truncate(key), rt.Name)
			}
		}
		if !declared[s.ID] {
			return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, "attribute %q uses schema %q, which \"schemas\" does not list", truncate(key), s.ID)
		}
	}
	return nil
}
