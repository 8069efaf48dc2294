// Package directory is the SCIM service: each operation on a tenant's Users
// and Groups (get, list, create, replace, patch, delete, Bulk) from the
// authenticated caller to the stored result. It enforces the tenant's
// permissions and quotas, runs the operation in the tenant's transaction
// (store.InTenant), records each write in the tenant's audit trail in that
// same transaction, and re-reads what it returns. It knows nothing of HTTP:
// the web package decodes requests, calls one method and encodes its
// result; errors are *app.Error values, mapped to statuses there.
package directory

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Service runs SCIM operations against tenants' data. It holds no state of
// its own beyond the pool, so one is enough for a process.
type Service struct {
	db *store.DB
}

// NewService returns the service over db.
func NewService(db *store.DB) *Service { return &Service{db: db} }

// Caller is who asks for an operation: the principal its credential stands
// for (tenant, permissions, resource types with the tenant's extensions),
// and, for the audit trail of a write, the request it came in.
type Caller struct {
	Principal  *credential.Principal
	RequestID  string
	ClientAddr string
	// BaseURL is the tenant's SCIM base URL, without a trailing slash,
	// for the meta.location of the resources events carry.
	BaseURL string

	details map[string]any // e.g. the bulkId of a Bulk operation, for the trail
}

// Permission names a setting of a tenant's permissions that allows or
// denies operations; its value is the setting's name, as refusals quote it.
type Permission string

// The permissions the operations need.
const (
	CanCreate   Permission = "can_create"
	CanRead     Permission = "can_read"
	CanUpdate   Permission = "can_update"
	CanDelete   Permission = "can_delete"
	CanList     Permission = "can_list"
	BulkEnabled Permission = "bulk_enabled"
)

var permVerb = map[Permission]string{
	CanCreate: "create resources", CanRead: "read resources", CanUpdate: "update resources",
	CanDelete: "delete resources", CanList: "list or search resources",
}

// Permit returns EFORBIDDEN (ReasonPermission) unless p allows perm. Every
// operation checks it; the HTTP layer also checks it before reading a
// request's body, so that a refused request costs nothing to refuse.
func Permit(p tenant.Permissions, perm Permission) error {
	var ok bool
	switch perm {
	case CanCreate:
		ok = p.CanCreate
	case CanRead:
		ok = p.CanRead
	case CanUpdate:
		ok = p.CanUpdate
	case CanDelete:
		ok = p.CanDelete
	case CanList:
		ok = p.CanList
	case BulkEnabled:
		if !p.BulkEnabled {
			return app.Refusef(app.EFORBIDDEN, app.ReasonPermission, "Bulk is turned off for this tenant (bulk_enabled is off)")
		}
		return nil
	}
	if !ok {
		return app.Refusef(app.EFORBIDDEN, app.ReasonPermission, "this tenant is not permitted to %s (%s is off)", permVerb[perm], perm)
	}
	return nil
}

// quota returns the tenant's limit on resources of rt.
func quota(p tenant.Permissions, rt *scim.ResourceType) int {
	if rt.Is(scim.GroupResource) {
		return p.MaxGroups
	}
	return p.MaxUsers
}

// Outcomes of a write in the audit trail.
const (
	outcomeSuccess = "success"
	// outcomeUnchanged is a PATCH that left the resource as it was: the
	// trail shows support that the request came, and that it changed
	// nothing, rather than nothing at all.
	outcomeUnchanged = "unchanged"
)

// record appends the write to the tenant's audit trail, in the write's
// transaction so that both commit or neither does.
func (c Caller) record(ctx context.Context, tx *sqlx.Tx, rt *scim.ResourceType, verb, id, outcome string) error {
	return audit.RecordSCIM(ctx, tx, c.event(rt, verb, id, outcome))
}

// event is the audit record of a write.
func (c Caller) event(rt *scim.ResourceType, verb, id, outcome string) audit.SCIMEvent {
	return audit.SCIMEvent{
		Actor: c.Principal.Actor(), Action: strings.ToLower(rt.Name) + "." + verb, Target: id, Outcome: outcome,
		RequestID: c.RequestID, ClientAddr: c.ClientAddr, Details: c.details,
	}
}

// emit appends the events of a write of r (verb "create", "update" or
// "delete") to the tenant's outbox, in the write's transaction: the
// resource's own event, whose data is r as a SCIM GET returns it but
// without its memberships, which are told by one group.member_added or
// group.member_removed event each; for a deletion, its id.
func (c Caller) emit(ctx context.Context, tx *sqlx.Tx, r *scim.Resource, verb string, ch scim.Change) error {
	return events.Append(ctx, tx, c.Principal.Tenant.ID, c.Principal.Actor(), c.events(r, verb, ch)...)
}

// events returns the events of a write of r, as emit appends them.
func (c Caller) events(r *scim.Resource, verb string, ch scim.Change) []events.New {
	var data any = map[string]any{"id": r.ID}
	if verb != "delete" {
		out := r.Render(c.BaseURL)
		delete(out, r.Type.MembershipsAttr())
		data = out
	}
	typ := strings.ToLower(r.Type.Name) + "." + verb + "d"
	if ch.Deactivated {
		typ = events.UserDeactivated
	}
	evs := make([]events.New, 0, 1+len(ch.Added)+len(ch.Removed))
	evs = append(evs, events.New{Type: typ, Data: data})
	for _, id := range ch.Added {
		evs = append(evs, events.New{Type: events.GroupMemberAdded, Data: events.MemberData{GroupID: r.ID, MemberID: id}})
	}
	for _, id := range ch.Removed {
		evs = append(evs, events.New{Type: events.GroupMemberRemoved, Data: events.MemberData{GroupID: r.ID, MemberID: id}})
	}
	return evs
}
