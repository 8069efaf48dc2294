package audit

import (
	"context"
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
// whose schema is gone (deleted) has only its control-plane events.
func FindTrail(ctx context.Context, db *store.DB, tenantID string, since time.Time, limit int) ([]Event, error) {
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
