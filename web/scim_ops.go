package web

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// The write operations, shared by the HTTP handlers and /Bulk: each runs in
// one tenant transaction, records itself in the tenant's audit trail in that
// same transaction, and returns the resource as stored.

// writer is who makes a write, for the audit trail.
type writer struct {
	p         *tenant.Principal
	types     tenant.ResourceTypes // the tenant's, for Bulk operations
	requestID string
	addr      string
	details   map[string]any // e.g. the bulkId of a Bulk operation
}

// writerOf returns the writer of a request.
func writerOf(c echo.Context) writer {
	return writer{p: principalOf(c), types: typesOf(c), requestID: c.Response().Header().Get(echo.HeaderXRequestID), addr: c.RealIP()}
}

// Outcomes of a write in the audit trail.
const (
	outcomeSuccess = "success"
	// outcomeUnchanged is a PATCH that left the resource as it was: the
	// trail shows support that the request came, and that it changed
	// nothing, rather than nothing at all.
	outcomeUnchanged = "unchanged"
)

// record appends the write to the tenant's audit trail.
func (w writer) record(ctx context.Context, tx *sqlx.Tx, rt *scim.ResourceType, verb, id, outcome string) error {
	return audit.RecordSCIM(ctx, tx, audit.SCIMEvent{
		Actor: w.p.Actor(), Action: strings.ToLower(rt.Name) + "." + verb, Target: id, Outcome: outcome,
		RequestID: w.requestID, ClientAddr: w.addr, Details: w.details,
	})
}

func (s *Server) create(ctx context.Context, w writer, rt *scim.ResourceType, body map[string]any) (*scim.Resource, error) {
	p := w.p
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if r, err = scim.CreateResource(ctx, tx, rt, attrs, quota(p.Permissions, rt)); err != nil {
			return err
		}
		if err := w.record(ctx, tx, rt, "create", r.ID, outcomeSuccess); err != nil {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, r.ID, true)
		return err
	})
	return r, err
}

func (s *Server) replace(ctx context.Context, w writer, rt *scim.ResourceType, id string, version int64, body map[string]any) (*scim.Resource, error) {
	p := w.p
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if _, err := scim.ReplaceResource(ctx, tx, rt, id, version, attrs); err != nil {
			return err
		}
		if err := w.record(ctx, tx, rt, "replace", id, outcomeSuccess); err != nil {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, id, true)
		return err
	})
	return r, err
}

// patch applies a PatchOp body. With members it returns the resource with
// its members (or groups) loaded; without, as written.
func (s *Server) patch(ctx context.Context, w writer, rt *scim.ResourceType, id string, version int64, body map[string]any, members bool) (*scim.Resource, error) {
	p := w.p
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		var changed bool
		if r, changed, err = scim.PatchResource(ctx, tx, rt, id, version, ops); err != nil {
			return err
		}
		outcome := outcomeSuccess
		if !changed {
			outcome = outcomeUnchanged
		}
		if err := w.record(ctx, tx, rt, "patch", id, outcome); err != nil || !members {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, id, true)
		return err
	})
	return r, err
}

func (s *Server) delete(ctx context.Context, w writer, rt *scim.ResourceType, id string, version int64) error {
	return s.cfg.DB.InTenant(ctx, w.p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if err := scim.DeleteResource(ctx, tx, rt, id, version); err != nil {
			return err
		}
		return w.record(ctx, tx, rt, "delete", id, outcomeSuccess)
	})
}
