package scim_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

func TestLookupAttr(t *testing.T) {
	for _, tt := range []struct {
		name, path, want string
		rt               *scim.ResourceType
	}{
		{"Core", "userName", "userName", nil},
		{"AnyCase", "NAME.GIVENNAME", "name.givenName", nil},
		{"CoreURN", "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", "name.givenName", nil},
		{"Extension", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", nil},
		{"ExtensionWithoutURN", "employeeNumber", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", nil},
		{"WholeExtension", "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", nil},
		{"Common", "META.LASTMODIFIED", "meta.lastModified", nil},
		{"Ref", "members.$REF", "members.$ref", scim.GroupResource},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			p, err := rt.LookupAttr(tt.path, app.ScimInvalidPath)
			if err != nil {
				t.Fatalf("LookupAttr(%q): %v", tt.path, err)
			}
			if got := p.String(); got != tt.want {
				t.Errorf("LookupAttr(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestLookupAttrErrors(t *testing.T) {
	for _, tt := range []struct{ name, path, scimType string }{
		{"ErrUnknown", "shoeSize", app.ScimInvalidPath},
		{"ErrUnknownSub", "name.shoeSize", app.ScimInvalidFilter},
		{"ErrSubOfSimple", "userName.value", app.ScimInvalidPath},
		{"ErrUnknownURN", "urn:example:1.0:User:userName", app.ScimInvalidFilter},
		{"ErrExtensionOnGroup", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", app.ScimInvalidPath},
		{"ErrMalformed", "user name", app.ScimInvalidPath},
		{"ErrEmpty", "", app.ScimInvalidFilter},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := scim.UserResource
			if tt.name == "ErrExtensionOnGroup" {
				rt = scim.GroupResource
			}
			_, err := rt.LookupAttr(tt.path, tt.scimType)
			var e *app.Error
			if !errors.As(err, &e) || e.Code != app.EINVALID || e.ScimType != tt.scimType {
				t.Fatalf("LookupAttr(%q) error = %#v, want EINVALID %s", tt.path, err, tt.scimType)
			}
		})
	}
}

func TestSchemaDocument(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, scim.UserSchema.Document("https://example.com/scim/v2/Schemas/x"))), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["id"] != scim.UserSchemaURN || doc["name"] != "User" {
		t.Errorf("id, name = %v, %v", doc["id"], doc["name"])
	}
	if s, _ := doc["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:schemas:core:2.0:Schema" {
		t.Errorf("schemas = %v", doc["schemas"])
	}
	if m, _ := doc["meta"].(map[string]any); m["resourceType"] != "Schema" || m["location"] != "https://example.com/scim/v2/Schemas/x" {
		t.Errorf("meta = %v", doc["meta"])
	}
	attrs, _ := doc["attributes"].([]any)
	byName := map[string]map[string]any{}
	for _, a := range attrs {
		a := a.(map[string]any)
		byName[a["name"].(string)] = a
	}
	for _, name := range []string{"userName", "name", "displayName", "nickName", "profileUrl", "title", "userType",
		"preferredLanguage", "locale", "timezone", "active", "password", "emails", "phoneNumbers", "ims", "photos",
		"addresses", "groups", "entitlements", "roles", "x509Certificates"} {
		if byName[name] == nil {
			t.Errorf("User schema lacks %q", name)
		}
	}
	if _, ok := byName["id"]; ok {
		t.Error("User schema lists the common attribute id")
	}
	if pw := byName["password"]; pw["mutability"] != "writeOnly" || pw["returned"] != "never" {
		t.Errorf("password = %v", pw)
	}
	if g := byName["groups"]; g["mutability"] != "readOnly" || g["multiValued"] != true {
		t.Errorf("groups = %v", g)
	}
	if u := byName["userName"]; u["required"] != true || u["caseExact"] != false || u["uniqueness"] != "server" {
		t.Errorf("userName = %v", u)
	}
}

func TestResourceTypeDocument(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, scim.UserResource.Document("https://example.com/scim/v2/ResourceTypes/User"))), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["endpoint"] != "/Users" || doc["schema"] != scim.UserSchemaURN {
		t.Errorf("endpoint, schema = %v, %v", doc["endpoint"], doc["schema"])
	}
	ext, _ := doc["schemaExtensions"].([]any)
	if len(ext) != 1 || ext[0].(map[string]any)["schema"] != scim.EnterpriseUserSchemaURN || ext[0].(map[string]any)["required"] != false {
		t.Errorf("schemaExtensions = %v", doc["schemaExtensions"])
	}
	if m, _ := doc["meta"].(map[string]any); m["resourceType"] != "ResourceType" {
		t.Errorf("meta = %v", doc["meta"])
	}
}
