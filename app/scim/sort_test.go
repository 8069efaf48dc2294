package scim_test

import (
	"errors"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

func TestOrderBy(t *testing.T) {
	for _, tt := range []struct {
		name, sortBy, sortOrder string
		rt                      *scim.ResourceType
		want                    string
	}{
		{"Default", "", "", nil, "users.created, users.id"},
		{"UserName", "userName", "", nil, "lower(users.user_name), users.id"},
		{"Descending", "USERNAME", "Descending", nil, "lower(users.user_name) DESC, users.id DESC"},
		{"CaseExact", "externalId", "ascending", nil, "users.external_id, users.id"},
		{"Created", "meta.created", "", nil, "users.created, users.id"},
		{"JSONB", "name.familyName", "", nil, "lower(users.data->'name'->>'familyName'), users.id"},
		{"Extension", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "", nil,
			"lower(users.data->'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'->>'employeeNumber'), users.id"},
		{"EmailsPrimaryFirst", "emails", "", nil,
			"(SELECT lower(v.e->>'value') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'emails') = 'array' THEN users.data->'emails' ELSE '[]' END) WITH ORDINALITY AS v(e, n) ORDER BY COALESCE(v.e->'primary' = 'true', FALSE) DESC, v.n LIMIT 1), users.id"},
		{"GroupDisplayName", "displayName", "", scim.GroupResource, "lower(groups.display_name), groups.id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			got, err := rt.OrderBy(tt.sortBy, tt.sortOrder)
			if err != nil {
				t.Fatalf("OrderBy(%q, %q): %v", tt.sortBy, tt.sortOrder, err)
			}
			if got != tt.want {
				t.Errorf("OrderBy(%q, %q)\n got: %s\nwant: %s", tt.sortBy, tt.sortOrder, got, tt.want)
			}
		})
	}
}

func TestOrderByErrors(t *testing.T) {
	for _, tt := range []struct{ name, sortBy, sortOrder string }{
		{"ErrUnknownAttribute", "shoeSize", ""},
		{"ErrInjection", "userName; DROP TABLE users", ""},
		{"ErrPassword", "password", ""},
		{"ErrWholeSchema", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ""},
		{"ErrComplexWithoutValue", "name", ""},
		{"ErrSortOrder", "userName", "sideways"},
		{"ErrNotStored", "meta.location", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scim.UserResource.OrderBy(tt.sortBy, tt.sortOrder)
			var e *app.Error
			if !errors.As(err, &e) || e.Code != app.EINVALID || e.ScimType != app.ScimInvalidValue {
				t.Fatalf("OrderBy(%q, %q) error = %#v, want EINVALID invalidValue", tt.sortBy, tt.sortOrder, err)
			}
		})
	}
}
