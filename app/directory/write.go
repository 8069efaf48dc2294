package directory

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// The writes: each runs in one tenant transaction, records itself in the
// tenant's audit trail and appends its events to the tenant's outbox
// (package events) in that same transaction, and returns the resource as
// stored. A write that fails leaves neither data nor an audit record nor
// an event; a PATCH that changes nothing appends no event.
// rt is scim.UserResource or scim.GroupResource; the caller's tenant's
// version of it, with its schema extensions, is used. version is what
// If-Match asks for (scim.IfMatchVersion): 0 for any, and a write whose
// resource is at another version fails with EPRECONDITION.

// Create stores a new resource from a SCIM body. It returns EFORBIDDEN when
// the tenant may not create or is at its quota for rt, EINVALID for a body
// that is not a valid resource, and ECONFLICT (uniqueness) for a userName
// or displayName in use.
func (s *Service) Create(ctx context.Context, c Caller, rt *scim.ResourceType, body map[string]any) (*scim.Resource, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanCreate); err != nil {
		return nil, err
	}
	rt = p.Types.Of(rt)
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if r, err = scim.CreateResource(ctx, tx, rt, attrs, quota(p.Permissions, rt)); err != nil {
			return err
		}
		if err := c.record(ctx, tx, rt, "create", r.ID, outcomeSuccess); err != nil {
			return err
		}
		if r, err = scim.FindResource(ctx, tx, rt, r.ID, true); err != nil {
			return err
		}
		var ch scim.Change
		if rt.Is(scim.GroupResource) {
			for _, m := range r.Members {
				ch.Added = append(ch.Added, m.Value)
			}
		}
		return c.emit(ctx, tx, r, "create", ch)
	})
	committed(c, err)
	return r, err
}

// Replace replaces the resource with the given id by a SCIM body (PUT). It
// returns EFORBIDDEN when the tenant may not update, ENOTFOUND, and the
// errors of Create but the quota.
func (s *Service) Replace(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64, body map[string]any) (*scim.Resource, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanUpdate); err != nil {
		return nil, err
	}
	rt = p.Types.Of(rt)
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		_, ch, err := scim.ReplaceResource(ctx, tx, rt, id, version, attrs)
		if err != nil {
			return err
		}
		if err := c.record(ctx, tx, rt, "replace", id, outcomeSuccess); err != nil {
			return err
		}
		if r, err = scim.FindResource(ctx, tx, rt, id, true); err != nil {
			return err
		}
		return c.emit(ctx, tx, r, "update", ch)
	})
	committed(c, err)
	return r, err
}

// Patch applies a PatchOp body (RFC 7644 §3.5.2) to the resource with the
// given id. With members it returns the resource re-read with its
// memberships; without, as written, so that changing one member of a large
// group never loads its member list. A patch that changes nothing is
// recorded as "unchanged". It returns EFORBIDDEN when the tenant may not
// update, ENOTFOUND, and EINVALID for a bad PatchOp.
func (s *Service) Patch(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64, body map[string]any, members bool) (*scim.Resource, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanUpdate); err != nil {
		return nil, err
	}
	rt = p.Types.Of(rt)
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		var changed bool
		var ch scim.Change
		if r, ch, changed, err = scim.PatchResource(ctx, tx, rt, id, version, ops); err != nil {
			return err
		}
		outcome := outcomeSuccess
		if !changed {
			outcome = outcomeUnchanged
		}
		if err := c.record(ctx, tx, rt, "patch", id, outcome); err != nil {
			return err
		}
		if changed {
			if err := c.emit(ctx, tx, r, "update", ch); err != nil {
				return err
			}
		}
		if !members {
			return nil
		}
		r, err = scim.FindResource(ctx, tx, rt, id, true)
		return err
	})
	committed(c, err)
	return r, err
}

// Delete deletes the resource with the given id. It returns EFORBIDDEN when
// the tenant may not delete, and ENOTFOUND.
func (s *Service) Delete(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64) error {
	p := c.Principal
	if err := Permit(p.Permissions, CanDelete); err != nil {
		return err
	}
	rt = p.Types.Of(rt)
	err := s.db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if err := scim.DeleteResource(ctx, tx, rt, id, version); err != nil {
			return err
		}
		if err := c.record(ctx, tx, rt, "delete", id, outcomeSuccess); err != nil {
			return err
		}
		return c.emit(ctx, tx, &scim.Resource{Type: rt, ID: id}, "delete", scim.Change{})
	})
	committed(c, err)
	return err
}

// committed wakes this process's events relay after a write committed.
func committed(c Caller, err error) {
	if err == nil {
		events.Committed(c.Principal.Tenant.ID)
	}
}
