// Package audit records who did what to which tenant, in control.audit_events.
// Events are written in the same transaction as the change they describe, so
// the trail never claims a change that was rolled back.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event is one entry of the audit trail.
type Event struct {
	ID       int64          `db:"id" json:"id"`
	At       time.Time      `db:"at" json:"at"`
	Actor    string         `db:"actor" json:"actor"` // "cli", "staff:<email>", "scim:<token prefix>"
	Action   string         `db:"action" json:"action"`
	TenantID *string        `db:"tenant_id" json:"tenant_id,omitempty"`
	Details  map[string]any `db:"-" json:"details,omitempty"`
	// Cursor places the event in the merged trail (FindTrailPage), for
	// paging from it; empty where the event was not read from a trail.
	Cursor string `db:"-" json:"cursor,omitempty"`
}

// Record appends an event to the trail using ext, usually the transaction
// that makes the change. Details carried by ctx (WithDetails) are added.
func Record(ctx context.Context, ext sqlx.ExtContext, actor, action, tenantID string, details map[string]any) error {
	details = contextDetails(ctx, details)
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	var tid *string
	if tenantID != "" {
		tid = &tenantID
	}
	const q = `INSERT INTO control.audit_events (actor, action, tenant_id, details) VALUES ($1, $2, $3, $4)`
	if _, err := ext.ExecContext(ctx, q, actor, action, tid, string(b)); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// FindEvents returns the newest events of a tenant (all tenants when
// tenantID is empty), at most limit of them.
func FindEvents(ctx context.Context, q sqlx.QueryerContext, tenantID string, limit int) ([]Event, error) {
	return FindEventsSince(ctx, q, tenantID, time.Time{}, limit)
}

// FindEventsSince is FindEvents for the events at or after since (all of
// them when since is zero).
func FindEventsSince(ctx context.Context, q sqlx.QueryerContext, tenantID string, since time.Time, limit int) ([]Event, error) {
	const query = `
		SELECT id, at, actor, action, tenant_id, details FROM control.audit_events
		WHERE ($1 = '' OR tenant_id = $1) AND at >= $3
		ORDER BY at DESC, id DESC LIMIT $2`
	rows, err := q.QueryxContext(ctx, query, tenantID, limit, since)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		var e Event
		var details []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantID, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
