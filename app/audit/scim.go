package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
)

// SCIMEvent is one SCIM write in a tenant's own trail (table audit_events
// of the tenant's schema).
type SCIMEvent struct {
	ID         int64          `db:"id" json:"id"`
	At         time.Time      `db:"at" json:"at"`
	Actor      string         `db:"actor" json:"actor"`   // "token:<prefix>"
	Action     string         `db:"action" json:"action"` // "user.create", "group.patch", …
	Target     string         `db:"target" json:"target"` // the resource id
	Outcome    string         `db:"outcome" json:"outcome"`
	RequestID  string         `db:"request_id" json:"request_id,omitempty"`
	ClientAddr string         `db:"client_addr" json:"client_addr,omitempty"`
	Details    map[string]any `db:"-" json:"details,omitempty"`
}

// RecordSCIM appends e to the trail of the tenant whose transaction tx is
// (store.InTenant), so that the event commits or rolls back with the write.
func RecordSCIM(ctx context.Context, tx sqlx.ExtContext, e SCIMEvent) error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	b, err := json.Marshal(e.Details)
	if err != nil {
		return err
	}
	const q = `INSERT INTO audit_events (actor, action, target, outcome, request_id, client_addr, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	if _, err := tx.ExecContext(ctx, q, e.Actor, e.Action, e.Target, e.Outcome, e.RequestID, e.ClientAddr, string(b)); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// RecordSCIMRider returns SQL, a CTE named audit (a scim.Rider), that
// appends es[k] to the trail in the statement that creates the resources
// they record, for the row of r whose n is k+1, taking its target from
// that row's id: a record is written when its row is, and not otherwise.
// The records are appended in the order of n. The es' Target is ignored.
func RecordSCIMRider(es []SCIMEvent) (func(arg func(any) string) string, error) {
	actors, actions, outcomes := make([]string, len(es)), make([]string, len(es)), make([]string, len(es))
	requests, addrs, details := make([]string, len(es)), make([]string, len(es)), make([]string, len(es))
	for k, e := range es {
		if e.Outcome == "" {
			e.Outcome = "success"
		}
		d := []byte("{}")
		if len(e.Details) > 0 {
			var err error
			if d, err = json.Marshal(e.Details); err != nil {
				return nil, err
			}
		}
		actors[k], actions[k], outcomes[k], requests[k], addrs[k], details[k] = e.Actor, e.Action, e.Outcome, e.RequestID, e.ClientAddr, string(d)
	}
	return func(arg func(any) string) string {
		return `audit AS (INSERT INTO audit_events (actor, action, target, outcome, request_id, client_addr, details)
		SELECT a.actor, a.action, r.id::text, a.outcome, a.request_id, a.client_addr, a.details
		FROM r JOIN ROWS FROM (unnest(` + arg(pq.Array(actors)) + `::text[]), unnest(` + arg(pq.Array(actions)) + `::text[]), unnest(` + arg(pq.Array(outcomes)) + `::text[]),
			unnest(` + arg(pq.Array(requests)) + `::text[]), unnest(` + arg(pq.Array(addrs)) + `::text[]), jsonb_array_elements(` + arg(app.JSONArray(details)) + `::jsonb))
			WITH ORDINALITY AS a(actor, action, outcome, request_id, client_addr, details, n) ON a.n = r.n
		ORDER BY r.n)`
	}, nil
}

// FindSCIMEvents returns the newest events of the tenant whose transaction
// q is, at or after since (all when zero), at most limit of them.
func FindSCIMEvents(ctx context.Context, q sqlx.QueryerContext, since time.Time, limit int) ([]SCIMEvent, error) {
	rows, err := q.QueryxContext(ctx, `SELECT id, at, actor, action, target, outcome, COALESCE(request_id, '') AS request_id,
		COALESCE(client_addr, '') AS client_addr, details FROM audit_events WHERE at >= $2 ORDER BY at DESC, id DESC LIMIT $1`, limit, since)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	defer rows.Close()
	var events []SCIMEvent
	for rows.Next() {
		var e SCIMEvent
		var details []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.RequestID, &e.ClientAddr, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
