package directory

import (
	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// types returns the caller's tenant's version of rt (scim.UserResource or
// scim.GroupResource): with its schema extensions, following the rules its
// flags ask for.
func (c Caller) types(rt *scim.ResourceType) *scim.ResourceType {
	f := c.Principal.Flags
	return c.Principal.Types.Of(rt).WithRules(scim.Rules{
		ReplaceNoTarget: f.ReplaceNoTarget == tenant.ReplaceError,
		DeclaredSchemas: f.StrictSchemas,
		SoftDelete:      f.SoftDelete,
	})
}

// requireVersion returns EPRECONDITIONREQUIRED when the caller's tenant
// requires If-Match (require_if_match) and a write names no version.
func (c Caller) requireVersion(version int64) error {
	if c.Principal.Flags.RequireIfMatch && version == 0 {
		return app.ScimErrorf(app.EPRECONDITIONREQUIRED, "",
			"this tenant requires If-Match with the resource's ETag on PUT, PATCH and DELETE (require_if_match is on)")
	}
	return nil
}
