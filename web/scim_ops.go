package web

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// The write operations, shared by the HTTP handlers and /Bulk: each runs in
// one tenant transaction and returns the resource as stored.

func (s *Server) create(ctx context.Context, p *tenant.Principal, rt *scim.ResourceType, body map[string]any) (*scim.Resource, error) {
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if r, err = scim.CreateResource(ctx, tx, rt, attrs, quota(p.Permissions, rt)); err != nil {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, r.ID, true)
		return err
	})
	return r, err
}

func (s *Server) replace(ctx context.Context, p *tenant.Principal, rt *scim.ResourceType, id string, version int64, body map[string]any) (*scim.Resource, error) {
	attrs, err := rt.Normalize(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if _, err := scim.ReplaceResource(ctx, tx, rt, id, version, attrs); err != nil {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, id, true)
		return err
	})
	return r, err
}

// patch applies a PatchOp body. With members it returns the resource with
// its members (or groups) loaded; without, as written.
func (s *Server) patch(ctx context.Context, p *tenant.Principal, rt *scim.ResourceType, id string, version int64, body map[string]any, members bool) (*scim.Resource, error) {
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return nil, err
	}
	var r *scim.Resource
	err = s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		if r, err = scim.PatchResource(ctx, tx, rt, id, version, ops); err != nil || !members {
			return err
		}
		r, err = scim.FindResource(ctx, tx, rt, id, true)
		return err
	})
	return r, err
}

func (s *Server) delete(ctx context.Context, p *tenant.Principal, rt *scim.ResourceType, id string, version int64) error {
	return s.cfg.DB.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		return scim.DeleteResource(ctx, tx, rt, id, version)
	})
}
