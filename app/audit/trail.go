package audit

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// FindTrail returns the newest events about a tenant from both of its
// trails, merged newest first: staff and CLI actions from the control plane
// and SCIM writes from the tenant's own schema, at or after since (all when
// zero), at most limit. With tenantID empty it returns the control plane's
// events of every tenant; SCIM writes stay in each tenant's schema. A tenant
// whose schema is gone (deleted) has only its control-plane events. It
// returns ENOTFOUND for a tenant that neither exists nor ever had an event,
// so that a mistyped id is not mistaken for a quiet tenant.
func FindTrail(ctx context.Context, db *store.DB, tenantID string, since time.Time, limit int) ([]Event, error) {
	if tenantID != "" {
		var known bool
		const q = `SELECT EXISTS (SELECT 1 FROM control.tenants WHERE id = $1)
			OR EXISTS (SELECT 1 FROM control.audit_events WHERE tenant_id = $1)`
		if err := db.GetContext(ctx, &known, q, tenantID); err != nil {
			return nil, fmt.Errorf("find the audit trail of %q: %w", tenantID, store.Unavailable(err))
		}
		if !known {
			return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
		}
	}
	events, err := FindEventsSince(ctx, db, tenantID, since, limit)
	if err != nil || tenantID == "" || !store.ValidTenantID(tenantID) {
		return events, err
	}
	var writes []SCIMEvent
	err = db.InTenant(ctx, store.Scope{TenantID: tenantID}, func(tx *sqlx.Tx) (err error) {
		writes, err = FindSCIMEvents(ctx, tx, since, limit)
		return err
	})
	if app.ErrorCode(err) == app.EUNAUTHORIZED {
		return events, nil // the schema is gone
	}
	if err != nil {
		return nil, err
	}
	for _, w := range writes {
		details := map[string]any{"target": w.Target, "outcome": w.Outcome}
		for k, v := range w.Details {
			details[k] = v
		}
		if w.RequestID != "" {
			details["request_id"] = w.RequestID
		}
		if w.ClientAddr != "" {
			details["client_addr"] = w.ClientAddr
		}
		tid := tenantID
		events = append(events, Event{At: w.At, Actor: w.Actor, Action: w.Action, TenantID: &tid, Details: details})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At.After(events[j].At) })
	if len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}
