package usage

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// QuotaWarnAt is the share of a quota from which utilisation is flagged.
const QuotaWarnAt = 0.8

// Counts are how many resources a tenant holds.
type Counts struct {
	Users       int64 `json:"users"`
	Groups      int64 `json:"groups"`
	Memberships int64 `json:"group_memberships"`
}

// ResourceCounts returns how many users, groups and group memberships the
// tenant holds, inside its tenant transaction. It reads the counters that
// the writes keep (tenant migration 003) and counts the tables of a schema
// not yet migrated that far. Every caller goes through it, so the source
// can change in one place. It returns the errors of store.InTenant.
func ResourceCounts(ctx context.Context, db *store.DB, t *tenant.Tenant) (Counts, error) {
	var c Counts
	err := db.InTenant(ctx, t.Scope(), func(tx *sqlx.Tx) error {
		var hasCounters bool
		if err := tx.GetContext(ctx, &hasCounters, `SELECT to_regclass('counters') IS NOT NULL`); err != nil {
			return err
		}
		if !hasCounters {
			return tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups), (SELECT count(*) FROM group_members)`).
				Scan(&c.Users, &c.Groups, &c.Memberships)
		}
		m, err := scim.Counts(ctx, tx)
		c.Users, c.Groups, c.Memberships = m["users"], m["groups"], m["group_members"]
		return err
	})
	if err != nil {
		return c, fmt.Errorf("count resources of %q: %w", t.ID, err)
	}
	return c, nil
}

// StorageBytes returns the disk space of the tenant's schema: its tables
// (store.TenantTables) with their indexes and TOAST data. It reads the
// catalog only, by index, and returns EUNAVAILABLE when the database
// cannot be reached.
func StorageBytes(ctx context.Context, q sqlx.QueryerContext, tenantID string) (int64, error) {
	const query = `
		SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c
		WHERE c.relname = ANY($2::text[]) AND c.relnamespace = to_regnamespace($1)`
	var n int64
	if err := sqlx.GetContext(ctx, q, &n, query, store.SchemaName(tenantID), pq.Array(store.TenantTables)); err != nil {
		return 0, fmt.Errorf("measure schema of %q: %w", tenantID, store.Unavailable(err))
	}
	return n, nil
}

// Quota is the use of one limit.
type Quota struct {
	Used        int64   `json:"used"`
	Limit       int     `json:"limit"`
	Utilisation float64 `json:"utilisation"` // Used/Limit; 1 or more means full
	Warning     bool    `json:"warning"`     // at QuotaWarnAt or more
}

func quotaOf(used int64, limit int) Quota {
	q := Quota{Used: used, Limit: limit}
	switch {
	case limit > 0:
		q.Utilisation = float64(used) / float64(limit)
	case used > 0:
		q.Utilisation = 1
	}
	q.Warning = q.Utilisation >= QuotaWarnAt || limit == 0
	return q
}

// Resources is a tenant's resource usage against its quotas.
type Resources struct {
	Counts
	StorageBytes int64 `json:"storage_bytes"`
	UsersQuota   Quota `json:"users_quota"`
	GroupsQuota  Quota `json:"groups_quota"`
}

// FindResources returns the tenant's resource counts, schema size and
// quota utilisation. It returns ENOTFOUND when the tenant has no
// permissions row, and the errors of ResourceCounts.
func FindResources(ctx context.Context, tenants *tenant.Service, t *tenant.Tenant) (*Resources, error) {
	db := tenants.DB
	p, err := tenants.FindPermissions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	c, err := ResourceCounts(ctx, db, t)
	if err != nil {
		return nil, err
	}
	size, err := StorageBytes(ctx, db, t.ID)
	if err != nil {
		return nil, err
	}
	return &Resources{
		Counts:       c,
		StorageBytes: size,
		UsersQuota:   quotaOf(c.Users, p.MaxUsers),
		GroupsQuota:  quotaOf(c.Groups, p.MaxGroups),
	}, nil
}
