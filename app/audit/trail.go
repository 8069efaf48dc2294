package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	p, err := FindTrailPage(ctx, db, TrailFilter{TenantID: tenantID, Since: since, Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Events, nil
}

// TrailFilter selects one page of the trail for FindTrailPage. Empty
// fields match all.
type TrailFilter struct {
	TenantID string
	Actor    string    // part of the actor, case-insensitive: "alice", "token:bh_ab"
	Action   string    // an action, or the start of one: "tenant." for every tenant action
	Since    time.Time // at or after; zero: from the start
	Until    time.Time // before; zero: up to now
	// Before and After are cursors of TrailPage: events older than Before,
	// or newer than After (at most one of the two).
	Before, After string
	Limit         int // default 50, at most 1000
}

// TrailPage is one page of the trail, newest first, with the cursors of
// the pages on either side ("" when there is none).
type TrailPage struct {
	Events []Event `json:"events"`
	Older  string  `json:"older,omitempty"`
	Newer  string  `json:"newer,omitempty"`
}

// The two trails, ordered after time and id so that events of the same
// microsecond still page without gap or repeat.
const (
	sourceTenant  = 1 // a tenant schema's audit_events
	sourceControl = 2 // control.audit_events
)

// cursor is where a page ends: (at, source, id), in the trail's order.
type cursor struct {
	at     time.Time
	source int
	id     int64
}

func (c cursor) String() string {
	return fmt.Sprintf("%d.%d.%d", c.at.UnixMicro(), c.source, c.id)
}

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		us, err1 := strconv.ParseInt(parts[0], 10, 64)
		src, err2 := strconv.Atoi(parts[1])
		id, err3 := strconv.ParseInt(parts[2], 10, 64)
		if err1 == nil && err2 == nil && err3 == nil && (src == sourceTenant || src == sourceControl) {
			return cursor{at: time.UnixMicro(us), source: src, id: id}, nil
		}
	}
	return cursor{}, app.Errorf(app.EINVALID, "the cursor %q is not one this trail gave", s)
}

func (c cursor) less(d cursor) bool {
	if !c.at.Equal(d.at) {
		return c.at.Before(d.at)
	}
	if c.source != d.source {
		return c.source < d.source
	}
	return c.id < d.id
}

type trailRow struct {
	Event
	key cursor
}

// FindTrailPage returns one page of the trail: the control plane's events
// matching f and, when f names a tenant, that tenant's SCIM writes, merged
// newest first. It returns EINVALID for a cursor it did not give and
// ENOTFOUND for a tenant that neither exists nor ever had an event.
func FindTrailPage(ctx context.Context, db *store.DB, f TrailFilter) (*TrailPage, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	newer := f.After != ""
	at := cursor{at: time.UnixMicro(1 << 62), source: 9, id: 1 << 62} // after everything
	if newer {
		at = cursor{at: time.UnixMicro(-(1 << 62))}
	}
	for _, s := range []string{f.Before, f.After} {
		if s != "" {
			c, err := parseCursor(s)
			if err != nil {
				return nil, err
			}
			at = c
		}
	}
	if f.TenantID != "" {
		// A deleted tenant's trail outlives it in the control plane; a
		// tenant that never was is not found, not a quiet one.
		var known bool
		const q = `SELECT EXISTS (SELECT 1 FROM control.tenants WHERE id = $1)
			OR EXISTS (SELECT 1 FROM control.audit_events WHERE tenant_id = $1)`
		if err := db.GetContext(ctx, &known, q, f.TenantID); err != nil {
			return nil, fmt.Errorf("find the audit trail of %q: %w", f.TenantID, store.Unavailable(err))
		}
		if !known {
			return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", f.TenantID)
		}
	}
	rows, err := findControl(ctx, db, f, at, newer)
	if err != nil {
		return nil, err
	}
	if f.TenantID != "" && store.ValidTenantID(f.TenantID) {
		var writes []trailRow
		sc, err := db.LookupScope(ctx, f.TenantID)
		if err == nil {
			err = db.InTenant(ctx, sc, func(tx *sqlx.Tx) (err error) {
				writes, err = findTenant(ctx, tx, f, at, newer)
				return err
			})
		}
		// ENOTFOUND, EUNAUTHORIZED: the tenant or its schema is gone.
		if err != nil && app.ErrorCode(err) != app.ENOTFOUND && app.ErrorCode(err) != app.EUNAUTHORIZED {
			return nil, err
		}
		rows = append(rows, writes...)
	}
	// Newest first; when paging newer, oldest first until trimmed.
	slices.SortFunc(rows, func(a, b trailRow) int {
		if a.key == b.key {
			return 0
		}
		if a.key.less(b.key) != newer {
			return 1
		}
		return -1
	})
	more := len(rows) > f.Limit
	rows = rows[:min(len(rows), f.Limit)]
	if newer {
		slices.Reverse(rows)
	}
	p := &TrailPage{Events: make([]Event, len(rows))}
	for i, r := range rows {
		p.Events[i] = r.Event
		p.Events[i].Cursor = r.key.String()
	}
	if len(rows) > 0 {
		if (newer && more) || (!newer && f.Before != "") {
			p.Newer = rows[0].key.String()
		}
		if (!newer && more) || newer {
			p.Older = rows[len(rows)-1].key.String()
		}
	}
	return p, nil
}

// trailWhere filters either trail: $1 actor, $2 action, $3 since, $4 until,
// $5–$7 the cursor, $8 the limit; the caller adds the source in the row
// comparison and the order.
const trailWhere = `
	($1 = '' OR strpos(lower(actor), lower($1)) > 0)
	AND ($2 = '' OR action = $2 OR (right($2, 1) = '.' AND starts_with(action, $2)))
	AND at >= COALESCE($3::timestamptz, '-infinity') AND at < COALESCE($4::timestamptz, 'infinity')`

func trailArgs(f TrailFilter, c cursor) []any {
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	return []any{f.Actor, f.Action, since, until, c.at, c.source, c.id, f.Limit + 1}
}

// direction returns the row comparison and order of a page: older than
// the cursor, newest first, or newer, oldest first.
func direction(newer bool) (cmp, order string) {
	if newer {
		return ">", "ASC"
	}
	return "<", "DESC"
}

func findControl(ctx context.Context, q sqlx.QueryerContext, f TrailFilter, c cursor, newer bool) ([]trailRow, error) {
	cmp, order := direction(newer)
	query := `SELECT id, at, actor, action, tenant_id, details FROM control.audit_events
		WHERE ` + trailWhere + ` AND ($9 = '' OR tenant_id = $9)
		AND (at, 2, id) ` + cmp + ` ($5::timestamptz, $6::int, $7::bigint)
		ORDER BY at ` + order + `, id ` + order + ` LIMIT $8`
	rows, err := q.QueryxContext(ctx, query, append(trailArgs(f, c), f.TenantID)...)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", store.Unavailable(err))
	}
	defer rows.Close()
	var out []trailRow
	for rows.Next() {
		var e Event
		var details []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantID, &details); err != nil {
			return nil, fmt.Errorf("find audit events: %w", err)
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, fmt.Errorf("find audit events: %w", err)
		}
		out = append(out, trailRow{Event: e, key: cursor{at: e.At, source: sourceControl, id: e.ID}})
	}
	return out, rows.Err()
}

// findTenant reads the SCIM writes of the tenant whose transaction q is,
// as events of the merged trail.
func findTenant(ctx context.Context, q sqlx.QueryerContext, f TrailFilter, c cursor, newer bool) ([]trailRow, error) {
	cmp, order := direction(newer)
	query := `SELECT id, at, actor, action, target, outcome, COALESCE(request_id, '') AS request_id,
		COALESCE(client_addr, '') AS client_addr, details FROM audit_events
		WHERE ` + trailWhere + `
		AND (at, 1, id) ` + cmp + ` ($5::timestamptz, $6::int, $7::bigint)
		ORDER BY at ` + order + `, id ` + order + ` LIMIT $8`
	rows, err := q.QueryxContext(ctx, query, trailArgs(f, c)...)
	if err != nil {
		return nil, fmt.Errorf("find SCIM audit events of %q: %w", f.TenantID, err)
	}
	defer rows.Close()
	var out []trailRow
	for rows.Next() {
		var w SCIMEvent
		var raw []byte
		if err := rows.Scan(&w.ID, &w.At, &w.Actor, &w.Action, &w.Target, &w.Outcome, &w.RequestID, &w.ClientAddr, &raw); err != nil {
			return nil, fmt.Errorf("find SCIM audit events of %q: %w", f.TenantID, err)
		}
		details := map[string]any{}
		if err := json.Unmarshal(raw, &details); err != nil {
			return nil, fmt.Errorf("find SCIM audit events of %q: %w", f.TenantID, err)
		}
		details["target"], details["outcome"] = w.Target, w.Outcome
		if w.RequestID != "" {
			details["request_id"] = w.RequestID
		}
		if w.ClientAddr != "" {
			details["client_addr"] = w.ClientAddr
		}
		tid := f.TenantID
		out = append(out, trailRow{
			Event: Event{ID: w.ID, At: w.At, Actor: w.Actor, Action: w.Action, TenantID: &tid, Details: details},
			key:   cursor{at: w.At, source: sourceTenant, id: w.ID},
		})
	}
	return out, rows.Err()
}
