package tenant

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Purger deletes, in the background, the users that soft_delete has kept
// longer than scim.SoftDeleteRetention. A soft DELETE purges its tenant's
// expired users too, but a tenant whose identity provider has stopped
// deleting (the usual case after an offboarding) would otherwise keep them
// for ever, past the retention its customer was promised. Run it in every
// instance: they take turns by claiming tenants (control.soft_delete_purges).
type Purger struct {
	Tenants *Service
	// Every is how often each tenant with soft_delete on is looked at;
	// default one hour. The purger wakes four times as often, so that a
	// tenant claimed late in one pass is not left for two periods.
	Every time.Duration
	// Batch is how many tenants one claim takes; default 100.
	Batch int
	Log   *slog.Logger
}

// NewPurger returns a Purger over the tenants with the default period.
func NewPurger(tenants *Service, log *slog.Logger) *Purger {
	return &Purger{Tenants: tenants, Log: log}
}

// purgeLock is the advisory lock under which a purger claims tenants, so
// that instances claiming at once take turns and each sees the others'
// stamps.
const purgeLock = 0x70757267 // "purg"

// Run purges until ctx ends: at once, then every quarter of Every.
func (p *Purger) Run(ctx context.Context) {
	t := time.NewTicker(max(cmp.Or(p.Every, time.Hour)/4, time.Second))
	defer t.Stop()
	for {
		if _, err := p.Pass(ctx); err != nil && ctx.Err() == nil && p.Log != nil {
			p.Log.Warn("purge of soft-deleted users", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass purges the expired kept users of every tenant with soft_delete on
// that no purger looked at in the last Every, one tenant at a time, and
// returns how many users went. A tenant that cannot be purged is logged
// and left to the next period; the others go on. Each purge that removed
// users is audited (tenant.purge_deleted, by "system"). It returns an
// error only when the control plane cannot be reached.
func (p *Purger) Pass(ctx context.Context) (int64, error) {
	var total int64
	batch := cmp.Or(p.Batch, 100)
	var since time.Time
	for {
		ts, err := p.claim(ctx, batch, &since)
		if err != nil {
			return total, err
		}
		for _, t := range ts {
			n, err := p.Tenants.purgeDeleted(ctx, t, scim.SoftDeleteRetention)
			if n > 0 {
				total += n
				details := map[string]any{"users": n, "older_than": scim.SoftDeleteRetention.String(), "background": true}
				if aerr := audit.Record(ctx, p.Tenants.DB, "system", "tenant.purge_deleted", t.ID, details); aerr != nil && err == nil {
					err = aerr
				}
			}
			if err != nil && ctx.Err() == nil && p.Log != nil {
				p.Log.Warn("purge of soft-deleted users", "tenant", t.ID, "error", err.Error())
			}
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
		}
		if len(ts) < batch {
			return total, nil
		}
	}
}

// claim stamps up to batch tenants with soft_delete on that were not
// looked at in the last Every, longest unlooked first, and returns them.
// Tenants being deleted are passed by: their schemas are going. since is
// when the pass's first claim began (set by it): later claims of the pass
// take no tenant stamped since, so that a short Every cannot make a pass
// go round for ever.
func (p *Purger) claim(ctx context.Context, batch int, since *time.Time) ([]*Tenant, error) {
	const q = `
		WITH due AS (
			SELECT t.id FROM control.tenants t
			JOIN control.tenant_permissions p ON p.tenant_id = t.id
			LEFT JOIN control.soft_delete_purges s ON s.tenant_id = t.id
			WHERE p.soft_delete AND t.status <> 'deleting'
				AND (s.checked_at IS NULL OR (s.checked_at <= now() - $2 * interval '1 second' AND s.checked_at < $3))
			ORDER BY s.checked_at NULLS FIRST, t.id LIMIT $1
		), stamped AS (
			INSERT INTO control.soft_delete_purges (tenant_id, checked_at) SELECT id, now() FROM due
			ON CONFLICT (tenant_id) DO UPDATE SET checked_at = EXCLUDED.checked_at
			RETURNING tenant_id
		)
		SELECT ` + tenantColumns + ` FROM control.tenants WHERE id IN (SELECT tenant_id FROM stamped) ORDER BY id`
	var ts []*Tenant
	err := p.Tenants.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, purgeLock); err != nil {
			return err
		}
		if since.IsZero() {
			if err := tx.GetContext(ctx, since, `SELECT now()`); err != nil {
				return err
			}
		}
		return tx.SelectContext(ctx, &ts, q, batch, int64(cmp.Or(p.Every, time.Hour)/time.Second), *since)
	})
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return ts, nil
}
