package directory

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// The writes: each runs in one tenant transaction, records itself in the
// tenant's audit trail and appends its directory events (package events)
// in that same transaction, and returns the resource as stored. A write
// that fails leaves neither data, nor an audit record, nor an event.
// rt is scim.UserResource or scim.GroupResource; the caller's tenant's
// version of it, with its schema extensions, is used. version is what
// If-Match asks for (scim.IfMatchVersion): 0 for any, and a write whose
// resource is at another version fails with EPRECONDITION.
//
// Each write is made in two steps: the checks that need no database
// (permission, If-Match, the body) return the work to do in a
// transaction. Create, Replace, Patch and Delete run that work in a
// transaction of its own; Bulk runs its operations' work in one, a
// savepoint around each (see runBulk).

// work is a write's work inside a tenant transaction; it returns the
// resource as stored (nil for a deletion).
type work func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error)

// run runs w in a transaction of its own in the caller's tenant.
func (s *Service) run(ctx context.Context, c Caller, w work, err error) (r *scim.Resource, _ error) {
	if err != nil {
		return nil, err
	}
	err = s.db.InTenant(ctx, c.Principal.Tenant.Scope(), func(tx *sqlx.Tx) (err error) {
		r, err = w(context.WithValue(ctx, aloneKey{}, true), tx)
		return err
	})
	committed(c, err)
	return r, err
}

type aloneKey struct{}

// alone reports whether a work runs in a transaction of its own (run),
// rather than as one operation of a Bulk: its last statement may then
// carry the COMMIT (store.Final).
func alone(ctx context.Context) bool { return ctx.Value(aloneKey{}) != nil }

// committed wakes this process's events relay after a write committed.
func committed(c Caller, err error) {
	if err == nil {
		events.Committed(c.Principal.Tenant.ID)
	}
}

// Create stores a new resource from a SCIM body. It returns EFORBIDDEN when
// the tenant may not create or is at its quota for rt, EINVALID for a body
// that is not a valid resource, and ECONFLICT (uniqueness) for a userName
// or displayName in use.
func (s *Service) Create(ctx context.Context, c Caller, rt *scim.ResourceType, body map[string]any) (*scim.Resource, error) {
	w, err := c.create(rt, body)
	return s.run(ctx, c, w, err)
}

// Replace replaces the resource with the given id by a SCIM body (PUT). It
// returns EFORBIDDEN when the tenant may not update, ENOTFOUND, and the
// errors of Create but the quota.
func (s *Service) Replace(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64, body map[string]any) (*scim.Resource, error) {
	w, err := c.replace(rt, id, version, body)
	return s.run(ctx, c, w, err)
}

// Patch applies a PatchOp body (RFC 7644 §3.5.2) to the resource with the
// given id. With members it returns the resource re-read with its
// memberships; without, as written, so that changing one member of a large
// group never loads its member list. A patch that changes nothing is
// recorded as "unchanged". It returns EFORBIDDEN when the tenant may not
// update, ENOTFOUND, and EINVALID for a bad PatchOp.
func (s *Service) Patch(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64, body map[string]any, members bool) (*scim.Resource, error) {
	w, err := c.patch(rt, id, version, body, members)
	return s.run(ctx, c, w, err)
}

// Delete deletes the resource with the given id. It returns EFORBIDDEN when
// the tenant may not delete, and ENOTFOUND.
func (s *Service) Delete(ctx context.Context, c Caller, rt *scim.ResourceType, id string, version int64) error {
	w, err := c.delete(rt, id, version)
	_, err = s.run(ctx, c, w, err)
	return err
}

// create checks a Create and returns its work.
func (c Caller) create(rt *scim.ResourceType, body map[string]any) (work, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanCreate); err != nil {
		return nil, err
	}
	rt = c.types(rt)
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	if scim.OneStatement(rt) {
		u, err := scim.PrepareUser(rt, attrs)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error) {
			if _, err := c.createUsers(ctx, tx, rt, []*scim.NewUser{u}, []map[string]any{c.details}); err != nil {
				return nil, err
			}
			return u.R, nil
		}, nil
	}
	return func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error) {
		r, err := scim.CreateResource(ctx, tx, rt, attrs, quota(p.Permissions, rt))
		if err != nil {
			return nil, err
		}
		if err := c.record(ctx, tx, rt, "create", r.ID, outcomeSuccess); err != nil {
			return nil, err
		}
		if r, err = scim.FindResource(ctx, tx, rt, r.ID, true); err != nil {
			return nil, err
		}
		var ch scim.Change
		if rt.Is(scim.GroupResource) {
			for _, m := range r.Members {
				ch.Added = append(ch.Added, m.Value)
			}
		}
		return r, c.emit(ctx, tx, r, "create", ch)
	}, nil
}

// createUsers creates the users us (scim.CreateUsers) in one statement,
// with the audit record of each (whose details are details[k]) and its
// event riding in it: the resources are as stored, so they need no
// re-read. Run alone, a create's statement also carries the
// transaction's COMMIT (ctx is store.Final): a POST costs two round trips,
// BEGIN with its settings and this. A Bulk request creates its runs of
// users here too (see users).
func (c Caller) createUsers(ctx context.Context, tx *sqlx.Tx, rt *scim.ResourceType, us []*scim.NewUser, details []map[string]any) ([]bool, error) {
	p := c.Principal
	outbox, err := events.HasOutbox(ctx, tx, p.Tenant.ID)
	if err != nil {
		return nil, err
	}
	records := make([]audit.SCIMEvent, len(us))
	for k := range us {
		c.details = details[k]
		records[k] = c.event(rt, "create", "", outcomeSuccess)
	}
	rec, err := audit.RecordSCIMRider(records)
	if err != nil {
		return nil, err
	}
	riders := []scim.Rider{rec}
	if outbox {
		evs := make([]events.New, len(us))
		for k, u := range us {
			evs[k] = c.events(u.R, "create", scim.Change{})[0]
		}
		ev, err := events.AppendRider(ctx, p.Tenant.ID, p.Actor(), scim.StampsSQL, evs)
		if err != nil {
			return nil, err
		}
		riders = append(riders, ev)
	}
	stmt := ctx
	if alone(ctx) {
		stmt = store.Final(ctx)
	}
	created, err := scim.CreateUsers(stmt, tx, rt, us, quota(p.Permissions, rt), tallyOf(ctx), riders...)
	if err != nil || !outbox {
		return created, err
	}
	n := 0
	for _, ok := range created {
		if ok {
			n++
		}
	}
	events.Numbered(ctx, n)
	return created, nil
}

// replace checks a Replace and returns its work.
func (c Caller) replace(rt *scim.ResourceType, id string, version int64, body map[string]any) (work, error) {
	if err := c.update(version); err != nil {
		return nil, err
	}
	rt = c.types(rt)
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error) {
		_, ch, err := scim.ReplaceResource(ctx, tx, rt, id, version, attrs)
		if err != nil {
			return nil, err
		}
		if err := c.record(ctx, tx, rt, "replace", id, outcomeSuccess); err != nil {
			return nil, err
		}
		r, err := scim.FindResource(ctx, tx, rt, id, true)
		if err != nil {
			return nil, err
		}
		return r, c.emit(ctx, tx, r, "update", ch)
	}, nil
}

// patch checks a Patch and returns its work.
func (c Caller) patch(rt *scim.ResourceType, id string, version int64, body map[string]any, members bool) (work, error) {
	if err := c.update(version); err != nil {
		return nil, err
	}
	rt = c.types(rt)
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error) {
		r, ch, changed, err := scim.PatchResource(ctx, tx, rt, id, version, ops)
		if err != nil {
			return nil, err
		}
		outcome := outcomeSuccess
		if !changed {
			outcome = outcomeUnchanged
		}
		if err := c.record(ctx, tx, rt, "patch", id, outcome); err != nil {
			return nil, err
		}
		if changed {
			if err := c.emit(ctx, tx, r, "update", ch); err != nil {
				return nil, err
			}
		}
		if !members {
			return r, nil
		}
		return scim.FindResource(ctx, tx, rt, id, true)
	}, nil
}

// delete checks a Delete and returns its work.
func (c Caller) delete(rt *scim.ResourceType, id string, version int64) (work, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanDelete); err != nil {
		return nil, err
	}
	if err := c.requireVersion(version); err != nil {
		return nil, err
	}
	rt = c.types(rt)
	return func(ctx context.Context, tx *sqlx.Tx) (*scim.Resource, error) {
		if err := scim.DeleteResource(ctx, tx, rt, id, version); err != nil {
			return nil, err
		}
		if err := c.record(ctx, tx, rt, "delete", id, outcomeSuccess); err != nil {
			return nil, err
		}
		return nil, c.emit(ctx, tx, &scim.Resource{Type: rt, ID: id}, "delete", scim.Change{})
	}, nil
}

// update checks that the caller may update, with the version its tenant
// requires.
func (c Caller) update(version int64) error {
	if err := Permit(c.Principal.Permissions, CanUpdate); err != nil {
		return err
	}
	return c.requireVersion(version)
}
