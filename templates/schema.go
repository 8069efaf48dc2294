package templates

import (
	"strings"

	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// schemaExample is the placeholder of the extension form: a definition to
// start from.
const schemaExample = `{
  "schema": "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
  "attributes": [
    {"name": "costCenter", "type": "string", "indexed": true},
    {"name": "badge", "type": "integer", "uniqueness": "server"}
  ]
}`

// ExtensionResource returns the resource type an extension URN ends with.
func ExtensionResource(urn string) string {
	if strings.HasSuffix(urn, ":Group") {
		return "Groups"
	}
	return "Users"
}

// AttrSummary describes an extension attribute's type and the
// characteristics that differ from the defaults, e.g. "integer, unique,
// required".
func AttrSummary(a scim.ExtensionAttr) string {
	parts := []string{a.Type}
	if a.MultiValued {
		parts[0] = "list of " + a.Type
	}
	if len(a.SubAttributes) > 0 {
		var subs []string
		for _, s := range a.SubAttributes {
			subs = append(subs, s.Name)
		}
		parts[0] += " (" + strings.Join(subs, ", ") + ")"
	}
	for _, f := range []struct {
		on   bool
		text string
	}{
		{a.Required, "required"},
		{a.Uniqueness == scim.UniqueServer, "unique"},
		{a.Indexed, "indexed"},
		{a.CaseExact && a.Type == scim.TypeString, "case-exact"},
		{a.Mutability != "" && a.Mutability != scim.ReadWrite, a.Mutability},
		{a.Returned != "" && a.Returned != scim.ReturnedDefault, "returned " + a.Returned},
	} {
		if f.on {
			parts = append(parts, f.text)
		}
	}
	return strings.Join(parts, ", ")
}
