package web_test

import (
	"net/http"
	"testing"
)

// TestDiscoveryGolden pins the discovery documents and a full User: a
// change in what Bulkhead tells IdPs shows up as a diff in review.
func TestDiscoveryGolden(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	placeholders := map[string]string{c.prefix: "/tenants/<tenant>/scim/v2"}
	for _, tt := range []struct{ name, path string }{
		{"service_provider_config", "/ServiceProviderConfig"},
		{"resource_types", "/ResourceTypes"},
		{"resource_type_user", "/ResourceTypes/User"},
		{"schemas", "/Schemas"},
		{"schema_group", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", tt.path, nil).must(t, http.StatusOK)
			golden(t, tt.name, r.Raw, placeholders)
		})
	}
	c.do("GET", "/Schemas/urn:nosuch", nil).scimError(t, http.StatusNotFound, "")
	c.do("GET", "/ResourceTypes/Widget", nil).scimError(t, http.StatusNotFound, "")

	t.Run("full_user", func(t *testing.T) {
		r := c.do("POST", "/Users", `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "userName": "bjensen@example.com",
  "externalId": "bjensen",
  "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
  "displayName": "Babs Jensen",
  "nickName": "Babs",
  "profileUrl": "https://login.example.com/bjensen",
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "addresses": [
    {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "USA", "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA", "primary": true}
  ],
  "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
  "ims": [{"value": "someaimhandle", "type": "aim"}],
  "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
  "userType": "Employee",
  "title": "Tour Guide",
  "preferredLanguage": "en-US",
  "locale": "en-US",
  "timezone": "America/Los_Angeles",
  "active": true,
  "password": "t1meMa$heen",
  "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
    "division": "Theme Park", "department": "Tour Operations",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
  }
}`).must(t, http.StatusCreated)
		id := r.str("id")
		gid := c.createGroup("Tour Guides", id)
		r = c.do("GET", "/Users/"+id, nil).must(t, http.StatusOK)
		golden(t, "full_user", r.Raw, map[string]string{c.prefix: "/tenants/<tenant>/scim/v2", id: "<id>", gid: "<group-id>"})
	})
}
