// Package events is Bulkhead's change feed: the directory events that tell
// an application what changed in its customers' directories. Every write
// appends its events to the tenant's outbox (table events in the tenant's
// schema) in the write's own transaction, numbered per tenant without gaps
// in commit order; a rolled-back write leaves none. A relay (relay.go)
// copies them into the global feed in control, which the events API reads
// with a cursor (feed.go). docs/events.md states the guarantees.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// The event types. A write that turns a User's active from true to false
// is told by UserDeactivated instead of UserUpdated.
const (
	UserCreated          = "user.created"
	UserUpdated          = "user.updated"
	UserDeactivated      = "user.deactivated"
	UserDeleted          = "user.deleted"
	GroupCreated         = "group.created"
	GroupUpdated         = "group.updated"
	GroupDeleted         = "group.deleted"
	GroupMemberAdded     = "group.member_added"
	GroupMemberRemoved   = "group.member_removed"
	TenantSuspended      = "tenant.suspended"
	TenantResumed        = "tenant.resumed"
	TenantDeleted        = "tenant.deleted"
	TenantExtensionAdded = "tenant.extension_added"
)

// Types lists every event type, for checking filters.
var Types = []string{
	UserCreated, UserUpdated, UserDeactivated, UserDeleted,
	GroupCreated, GroupUpdated, GroupDeleted, GroupMemberAdded, GroupMemberRemoved,
	TenantSuspended, TenantResumed, TenantDeleted, TenantExtensionAdded,
}

// Channel is the NOTIFY channel a write signals when it commits events;
// the payload is the tenant id.
const Channel = "bulkhead_events"

// Event is one directory event as the events API returns it.
type Event struct {
	ID       string          `json:"id"`
	Cursor   string          `json:"cursor"`
	TenantID string          `json:"tenant_id"`
	Sequence int64           `json:"sequence"`
	Type     string          `json:"type"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Data     json.RawMessage `json:"data"`
}

// New is an event to append: its type and its data, which is encoded as
// JSON.
type New struct {
	Type string
	Data any
}

// MemberData is the data of group.member_added and group.member_removed.
type MemberData struct {
	GroupID  string `json:"group_id"`
	MemberID string `json:"member_id"`
}

// appendSQL numbers the events from the tenant's event_sequence, whose row
// it locks until the transaction ends (see schema/tenant/006), inserts
// them, and signals Channel once; NOTIFY is sent only at commit.
const appendSQL = `WITH s AS (UPDATE event_sequence SET last = last + cardinality($1::text[])
		RETURNING last - cardinality($1::text[]) AS base)
	INSERT INTO events (sequence, id, type, at, actor, data)
	SELECT s.base + e.n, e.id, e.type, coalesce($6::timestamptz, now()), $4, e.data
	FROM s, unnest($1::text[], $2::uuid[], $3::jsonb[]) WITH ORDINALITY AS e (type, id, data, n)
	RETURNING (SELECT pg_notify('` + Channel + `', $5))`

// Append appends evs to the outbox of the tenant whose transaction tx is
// (store.InTenant), so that they commit or roll back with the write they
// tell. actor names who wrote (tenant.Principal.Actor, a staff actor).
func Append(ctx context.Context, tx *sqlx.Tx, tenantID, actor string, evs ...New) error {
	return appendEvents(ctx, tx, tenantID, actor, nil, nil, evs)
}

// appendEvents is Append with the events' ids (nil: new ones) and time
// (nil: the transaction's) given.
func appendEvents(ctx context.Context, tx *sqlx.Tx, tenantID, actor string, ids []string, at *time.Time, evs []New) error {
	if len(evs) == 0 {
		return nil
	}
	if ok, err := hasOutbox(ctx, tx, tenantID); !ok || err != nil {
		return err
	}
	types := make([]string, len(evs))
	data := make([]string, len(evs))
	if ids == nil {
		ids = make([]string, len(evs))
		for i := range ids {
			ids[i] = newID()
		}
	}
	for i, e := range evs {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Type, err)
		}
		types[i], data[i] = e.Type, string(b)
	}
	if _, err := tx.ExecContext(ctx, appendSQL, pq.Array(types), pq.Array(ids), pq.Array(data), actor, tenantID, at); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// AppendRider returns SQL, CTEs named ev_seq and ev, and its arguments
// that append evs to the tenant's outbox in the statement that creates the
// resource they tell, as Append does, when that statement's row r is
// written and not otherwise (see scim.Rider). stamps, when not empty, is
// SQL of type jsonb merged into the meta of the first event's data: the
// created resource's timestamps, which only the statement knows
// (scim.StampsSQL). The tenant must have its outbox (HasOutbox).
func AppendRider(tenantID, actor, stamps string, evs ...New) (string, []any, error) {
	types := make([]string, len(evs))
	ids := make([]string, len(evs))
	data := make([]string, len(evs))
	for i, e := range evs {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return "", nil, fmt.Errorf("encode event %s: %w", e.Type, err)
		}
		types[i], ids[i], data[i] = e.Type, newID(), string(b)
	}
	first := `e.data`
	if stamps != "" {
		first = `jsonb_set(e.data, '{meta}', coalesce(e.data->'meta', '{}') || ` + stamps + `)`
	}
	q := `ev_seq AS (UPDATE event_sequence SET last = last + cardinality($1::text[])
		WHERE EXISTS (SELECT FROM r) RETURNING last - cardinality($1::text[]) AS base),
	ev AS (INSERT INTO events (sequence, id, type, at, actor, data)
		SELECT s.base + e.n, e.id, e.type, now(), $4, CASE WHEN e.n = 1 THEN ` + first + ` ELSE e.data END
		FROM ev_seq s, r, unnest($1::text[], $2::uuid[], $3::jsonb[]) WITH ORDINALITY AS e (type, id, data, n)
		RETURNING (SELECT pg_notify('` + Channel + `', $5)))`
	return q, []any{pq.Array(types), pq.Array(ids), pq.Array(data), actor, tenantID}, nil
}

// HasOutbox reports whether the tenant whose transaction tx is has its
// outbox: a tenant that bulkhead migrate has not reached yet has none, and
// its writes go on without events until it is migrated. Asked once per
// tenant and process.
func HasOutbox(ctx context.Context, tx *sqlx.Tx, tenantID string) (bool, error) {
	return hasOutbox(ctx, tx, tenantID)
}

// outboxes holds the tenants known to have an outbox in this process. A
// schema that has one keeps it, so only its absence is asked again.
var outboxes sync.Map

// hasOutbox reports whether the tenant's schema has its events table: a
// tenant that bulkhead migrate has not reached yet has none, and its writes
// go on without events until it is migrated, as they did before.
func hasOutbox(ctx context.Context, tx *sqlx.Tx, tenantID string) (bool, error) {
	if _, ok := outboxes.Load(tenantID); ok {
		return true, nil
	}
	var ok bool
	if err := tx.GetContext(ctx, &ok, `SELECT to_regclass('event_sequence') IS NOT NULL`); err != nil {
		return false, fmt.Errorf("look for the outbox: %w", err)
	}
	if ok {
		outboxes.Store(tenantID, true)
	}
	return ok, nil
}

// Max and default page sizes of the readers.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// FindTenantEvents returns the tenant's events with a sequence above
// after, in sequence order, at most limit (DefaultLimit when 0, at most
// MaxLimit), of the given types (all when empty), from the tenant's own
// outbox. Its sequence numbers are a prefix of the tenant's at any moment:
// a reader that goes on after the last it got never skips one. Cursor is
// left empty: it belongs to the global feed (Find). It returns EINVALID
// for a bad tenant id.
func FindTenantEvents(ctx context.Context, db *store.DB, scope store.Scope, after int64, limit int, types []string) ([]Event, error) {
	limit = pageSize(limit)
	var evs []Event
	err := db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		const q = `SELECT id, sequence, type, at, actor, data FROM events
			WHERE sequence > $1 AND (coalesce(cardinality($2::text[]), 0) = 0 OR type = ANY($2))
			ORDER BY sequence LIMIT $3`
		rows, err := tx.QueryContext(ctx, q, after, pq.Array(types), limit)
		if err != nil {
			return fmt.Errorf("find events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e := Event{TenantID: scope.TenantID}
			var data []byte
			if err := rows.Scan(&e.ID, &e.Sequence, &e.Type, &e.Time, &e.Actor, &data); err != nil {
				return fmt.Errorf("find events: %w", err)
			}
			e.Data = data
			evs = append(evs, e)
		}
		return rows.Err()
	})
	return evs, err
}

func newID() string { return uuid.NewString() }

// pageSize bounds a requested page size.
func pageSize(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return min(limit, MaxLimit)
}

// checkTypes returns EINVALID for a type that is not an event type.
func checkTypes(types []string) error {
	for _, t := range types {
		if !validType(t) {
			return app.Errorf(app.EINVALID, "unknown event type %q", t)
		}
	}
	return nil
}

func validType(t string) bool {
	for _, v := range Types {
		if v == t {
			return true
		}
	}
	return false
}
