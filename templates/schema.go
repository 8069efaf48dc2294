package templates

import "strings"

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
