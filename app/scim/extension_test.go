package scim_test

import (
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

func TestParseExtension(t *testing.T) {
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	t.Run("OK", func(t *testing.T) {
		ext, err := scim.ParseExtension([]byte(`{"schema": "` + urn + `", "attributes": [
			{"name": "costCenter", "type": "string", "indexed": true},
			{"name": "seen", "type": "dateTime"},
			{"name": "desk", "type": "complex", "multiValued": true, "subAttributes": [{"name": "floor", "type": "integer"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if ext.ResourceType != "User" || ext.Schema.Name != "acme" || !ext.Indexes("COSTCENTER") || ext.Indexes("seen") {
			t.Errorf("extension = %+v", ext)
		}
		a := ext.Schema.Attributes[1]
		if a.Mutability != scim.ReadWrite || a.Returned != scim.ReturnedDefault || a.Uniqueness != scim.UniqueNone || !a.CaseExact {
			t.Errorf("defaults not filled in: %+v", a)
		}
		if sub := ext.Schema.Attributes[2].SubAttributes[0]; sub.Mutability != scim.ReadWrite {
			t.Errorf("sub-attribute defaults not filled in: %+v", sub)
		}
		if got := scim.UserResource.Extend([]*scim.Extension{ext}); len(got.SchemaExtensions) != 2 || len(scim.UserResource.SchemaExtensions) != 1 {
			t.Errorf("Extend: %v; the shared User resource type has %v", got.SchemaExtensions, scim.UserResource.SchemaExtensions)
		}
		if got := scim.GroupResource.Extend([]*scim.Extension{ext}); got != scim.GroupResource {
			t.Error("a User extension changed the Group resource type")
		}
	})
	attr := func(a string) string { return `{"schema": "` + urn + `", "attributes": [` + a + `]}` }
	for _, tt := range []struct{ name, def, want string }{
		{"ErrNotJSON", `{`, "extension definition"},
		{"ErrUnknownField", `{"schema": "` + urn + `", "attrs": []}`, "attrs"},
		{"ErrURN", `{"schema": "urn:acme:User", "attributes": [{"name": "a", "type": "string"}]}`, "urn:ietf:params:scim:schemas:extension:NAME"},
		{"ErrQuoteInURN", `{"schema": "urn:ietf:params:scim:schemas:extension:a'b:2.0:User", "attributes": [{"name": "a", "type": "string"}]}`, "must look like"},
		{"ErrEnterprise", `{"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "attributes": [{"name": "a", "type": "string"}]}`, "enterprise"},
		{"ErrNoAttributes", `{"schema": "` + urn + `", "attributes": []}`, "at least one"},
		{"ErrName", attr(`{"name": "cost center", "type": "string"}`), "cost center"},
		{"ErrInjectedName", attr(`{"name": "a'); DROP TABLE users; --", "type": "string"}`), "must start with a letter"},
		{"ErrDuplicate", attr(`{"name": "a", "type": "string"}, {"name": "A", "type": "string"}`), "used twice"},
		{"ErrNoType", attr(`{"name": "a"}`), "type is missing"},
		{"ErrType", attr(`{"name": "a", "type": "text"}`), `"text"`},
		{"ErrComplexWithoutSubs", attr(`{"name": "a", "type": "complex"}`), "needs sub-attributes"},
		{"ErrNestedComplex", attr(`{"name": "a", "type": "complex", "subAttributes": [{"name": "b", "type": "complex", "subAttributes": [{"name": "c", "type": "string"}]}]}`), "cannot be complex"},
		{"ErrReadOnly", attr(`{"name": "a", "type": "string", "mutability": "readOnly"}`), "readOnly"},
		{"ErrWriteOnlyReturned", attr(`{"name": "a", "type": "string", "mutability": "writeOnly"}`), "returned never"},
		{"ErrReturned", attr(`{"name": "a", "type": "string", "returned": "sometimes"}`), "sometimes"},
		{"ErrUniqueGlobal", attr(`{"name": "a", "type": "string", "uniqueness": "global"}`), "global"},
		{"ErrUniqueMulti", attr(`{"name": "a", "type": "string", "multiValued": true, "uniqueness": "server"}`), "single-valued"},
		{"ErrIndexedComplex", attr(`{"name": "a", "type": "complex", "indexed": true, "subAttributes": [{"name": "b", "type": "string"}]}`), "indexed"},
		{"ErrWrongFieldType", attr(`{"name": "a", "type": "string", "multiValued": "yes"}`), "multiValued"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scim.ParseExtension([]byte(tt.def))
			if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), tt.want) {
				t.Errorf("error %v, want EINVALID mentioning %q", err, tt.want)
			}
		})
	}
}

// An extended resource type resolves its extension's attributes, and the
// type it extends does not, whichever of them was asked first: each works
// out its schemas for itself (derive). The rules' copies ask concurrently.
func TestExtendDerivesAnew(t *testing.T) {
	ext, err := scim.ParseExtension([]byte(`{"schema": "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		"attributes": [{"name": "deskNumber", "type": "string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const path = "deskNumber" // without its URN: looked up in every schema of the type
	if _, err := scim.UserResource.LookupAttr("userName", app.ScimInvalidPath); err != nil {
		t.Fatal(err)
	}
	users := scim.UserResource.Extend([]*scim.Extension{ext})
	done := make(chan error)
	for _, soft := range []bool{false, true, false, true} {
		go func() {
			_, err := users.WithRules(scim.Rules{SoftDelete: soft}).LookupAttr(path, app.ScimInvalidPath)
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Errorf("extended type: %v", err)
		}
	}
	if _, err := scim.UserResource.LookupAttr(path, app.ScimInvalidPath); err == nil {
		t.Error("the standard User type resolves a tenant's extension attribute")
	}
}
