package directory

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// Get returns the resource of rt (scim.UserResource or scim.GroupResource;
// the caller's tenant's version of it is used) with the given id, with its
// memberships when members. It returns EFORBIDDEN when the tenant may not
// read, and ENOTFOUND for an unknown or malformed id.
func (s *Service) Get(ctx context.Context, c Caller, rt *scim.ResourceType, id string, members bool) (*scim.Resource, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanRead); err != nil {
		return nil, err
	}
	rt = c.types(rt)
	var r *scim.Resource
	// Reading one resource by id is one lookup: the store then runs
	// ReadResource's one statement from its generic plan, with the
	// transaction's settings in the same round trip, and refuses any
	// other statement in the transaction.
	err := s.db.InTenantLookup(ctx, p.Tenant.Scope(), func(ctx context.Context, q sqlx.QueryerContext) (err error) {
		r, err = scim.ReadResource(ctx, q, rt, id, members)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Query is what a client asks of a list or search (RFC 7644 §3.4.2).
// Attributes and ExcludedAttributes are the projection the caller will
// apply: memberships are read only when it shows them.
type Query struct {
	Filter, SortBy, SortOrder      string
	Attributes, ExcludedAttributes string
	StartIndex                     int // 1-based; values below 1 are taken as 1
	Count                          int // page size, at most the caller's maximum; 0 asks for the total only
}

// Page is one page of a list: the resources, type after type in a search
// over several, and the number matching in all.
type Page struct {
	Total     int
	Resources []*scim.Resource
}

// List returns the page q asks for of the resources of rt, or of every
// resource type of the tenant when rt is nil (a search at the root, RFC
// 7644 §3.4.3). Over several types results come type after type, paged as
// one list; an attribute the filter names that one type lacks is
// unassigned in that type's resources, so `meta.resourceType eq "Group" or
// userName sw "j"` finds every group and the users it says. It returns
// EFORBIDDEN when the tenant may not list, and EINVALID for a bad filter or
// sort (over several types, only when it is bad for all of them).
func (s *Service) List(ctx context.Context, c Caller, rt *scim.ResourceType, q Query) (*Page, error) {
	p := c.Principal
	if err := Permit(p.Permissions, CanList); err != nil {
		return nil, err
	}
	var types, across []*scim.ResourceType
	if rt != nil {
		types = []*scim.ResourceType{c.types(rt)}
	} else {
		for _, t := range p.Types.All() {
			types = append(types, c.types(t))
		}
		across = types
	}
	if len(types) == 1 && q.Count > 0 && q.StartIndex <= 1 {
		// Most lists fit in their first page, an identity provider's
		// "does this user exist?" above all: one statement, one round trip.
		rt := types[0]
		var res *scim.ListResult
		err := s.db.InTenantSearch(ctx, p.Tenant.Scope(), func(ctx context.Context, tx sqlx.QueryerContext) (err error) {
			res, err = scim.FindFirstPage(ctx, tx, rt, listQuery(rt, q, nil, q.StartIndex, q.Count))
			return err
		})
		if err != nil {
			return nil, err
		}
		if res != nil {
			return &Page{Total: res.Total, Resources: res.Resources}, nil
		}
	}
	page := &Page{Resources: []*scim.Resource{}}
	start, count := q.StartIndex, q.Count
	var firstErr error
	matched := 0
	err := s.db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		for _, rt := range types {
			res, err := scim.FindResources(ctx, tx, rt, listQuery(rt, q, across, start, count))
			if err != nil {
				if len(types) > 1 && app.ErrorCode(err) == app.EINVALID {
					firstErr = err
					continue
				}
				return err
			}
			matched++
			page.Total += res.Total
			page.Resources = append(page.Resources, res.Resources...)
			// The next type continues where this one ended.
			start = max(start-res.Total, 1)
			count -= len(res.Resources)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if matched == 0 && firstErr != nil {
		return nil, firstErr
	}
	return page, nil
}

// listQuery is the page of rt's resources from start that q asks for, in a
// search across the given types (nil: over rt alone).
func listQuery(rt *scim.ResourceType, q Query, across []*scim.ResourceType, start, count int) scim.ListQuery {
	return scim.ListQuery{
		Filter: q.Filter, SortBy: q.SortBy, SortOrder: q.SortOrder,
		StartIndex: start, Count: count, Across: across,
		Members: rt.Projection(q.Attributes, q.ExcludedAttributes).Includes(rt.MembershipsAttr()),
	}
}
