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
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
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
// tell. actor names who wrote (credential.Principal.Actor, a staff actor).
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
	if seq, _ := ctx.Value(sequenceKey{}).(*Sequence); seq != nil {
		base := seq.last
		seq.last += int64(len(evs))
		if _, err := tx.ExecContext(ctx, appendNumberedSQL, pq.Array(types), pq.Array(ids), pq.Array(data), actor, tenantID, at, base); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, appendSQL, pq.Array(types), pq.Array(ids), pq.Array(data), actor, tenantID, at); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// appendNumberedSQL is appendSQL with the numbers counted by a Sequence,
// and without the NOTIFY, which Sequence.Flush sends once: each NOTIFY in
// a subtransaction (a Bulk operation's savepoint) is checked against
// those before it when the savepoint is released, which makes each
// operation of a Bulk cost more than the last.
const appendNumberedSQL = `INSERT INTO events (sequence, id, type, at, actor, data)
	SELECT $7::bigint + e.n, e.id, e.type, coalesce($6::timestamptz, now()), $4, e.data
	FROM unnest($1::text[], $2::uuid[], $3::jsonb[]) WITH ORDINALITY AS e (type, id, data, n)
	WHERE $5::text IS NOT NULL`

// A Sequence numbers the events of a run of writes in one transaction,
// such as a Bulk request's, in the caller instead of in the tenant's
// event_sequence row: every version of a row that a transaction writes
// stays until it ends, and each update of the row walks them all, which
// makes each write of a Bulk cost more than the last. LockSequence locks
// the row until the transaction ends and reads it once; Append and
// AppendRider under WithSequence number from it; Flush writes the last
// number back, once. The lock keeps the numbers gapless in commit order,
// as the row does.
type Sequence struct {
	tenantID string
	start    int64
	last     int64
}

type sequenceKey struct{}

// LockSequence locks the outbox's sequence of the tenant whose transaction
// tx is and returns it; nil when the tenant has no outbox yet. Call it
// outside any savepoint that may be rolled back, which would release the
// lock.
func LockSequence(ctx context.Context, tx *sqlx.Tx, tenantID string) (*Sequence, error) {
	if ok, err := hasOutbox(ctx, tx, tenantID); !ok || err != nil {
		return nil, err
	}
	s := &Sequence{tenantID: tenantID}
	if err := tx.GetContext(ctx, &s.last, `SELECT last FROM event_sequence FOR UPDATE`); err != nil {
		return nil, fmt.Errorf("lock the event sequence: %w", err)
	}
	s.start = s.last
	return s, nil
}

// WithSequence returns ctx under which Append numbers from seq (nil: from
// the row, as usual).
func WithSequence(ctx context.Context, seq *Sequence) context.Context {
	if seq == nil {
		return ctx
	}
	return context.WithValue(ctx, sequenceKey{}, seq)
}

// Last returns the last number given; SetLast sets it back, when the
// savepoint of the writes since is rolled back.
func (s *Sequence) Last() int64 { return s.last }

// SetLast: see Last.
func (s *Sequence) SetLast(n int64) { s.last = n }

// Flush writes the last number given to the tenant's sequence row, and
// signals Channel.
func (s *Sequence) Flush(ctx context.Context, tx *sqlx.Tx) error {
	if s.last == s.start {
		return nil
	}
	const q = `UPDATE event_sequence SET last = $1 RETURNING (SELECT pg_notify('` + Channel + `', $2))`
	if _, err := tx.ExecContext(ctx, q, s.last, s.tenantID); err != nil {
		return fmt.Errorf("number events: %w", err)
	}
	return nil
}

// AppendRider returns SQL, CTEs named ev_seq and ev (a scim.Rider), that
// append evs[k] to the tenant's outbox for the row of r whose n is k+1, as
// Append does, in the statement that creates the resources they tell: an
// event is written when its row is, and not otherwise, and the events are
// numbered in the order of n. stamps, when not empty, is SQL of type
// jsonb merged into the meta of each event's data: the created resource's
// timestamps, which only the statement knows (scim.StampsSQL). The tenant
// must have its outbox (HasOutbox).
//
// Under WithSequence (ctx), the events are numbered from it, and the
// caller tells it how many were written (Numbered).
func AppendRider(ctx context.Context, tenantID, actor, stamps string, evs []New) (func(arg func(any) string) string, error) {
	types := make([]string, len(evs))
	ids := make([]string, len(evs))
	data := make([]string, len(evs))
	for i, e := range evs {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.Type, err)
		}
		types[i], ids[i], data[i] = e.Type, newID(), string(b)
	}
	first := `e.data`
	if stamps != "" {
		first = `jsonb_set(e.data, '{meta}', coalesce(e.data->'meta', '{}') || ` + stamps + `)`
	}
	seq, _ := ctx.Value(sequenceKey{}).(*Sequence)
	return func(arg func(any) string) string {
		var seqCTE string
		if seq != nil {
			// Flush signals (see appendNumberedSQL).
			seqCTE = `ev_seq AS (SELECT ` + arg(seq.last) + `::bigint AS base),`
		} else {
			seqCTE = `ev_seq AS (UPDATE event_sequence SET last = last + (SELECT count(*) FROM r) WHERE EXISTS (SELECT FROM r)
		RETURNING last - (SELECT count(*) FROM r) AS base, pg_notify('` + Channel + `', ` + arg(tenantID) + `)),`
		}
		return seqCTE + `
	ev AS (INSERT INTO events (sequence, id, type, at, actor, data)
		SELECT s.base + row_number() OVER (ORDER BY r.n), e.id, e.type, now(), ` + arg(actor) + `, ` + first + `
		FROM ev_seq s, r JOIN ROWS FROM (unnest(` + arg(pq.Array(types)) + `::text[]), unnest(` + arg(pq.Array(ids)) + `::uuid[]),
			jsonb_array_elements(` + arg(app.JSONArray(data)) + `::jsonb)) WITH ORDINALITY AS e(type, id, data, n) ON e.n = r.n)`
	}, nil
}

// Numbered tells the Sequence of ctx (WithSequence), if any, that n
// events were appended by an AppendRider made under it.
func Numbered(ctx context.Context, n int) {
	if seq, _ := ctx.Value(sequenceKey{}).(*Sequence); seq != nil {
		seq.last += int64(n)
	}
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
	var evs []Event
	err := db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		var err error
		evs, err = readOutbox(ctx, tx, scope.TenantID, after, pageSize(limit), types)
		return err
	})
	return evs, err
}

// readOutbox returns the events of the tenant whose transaction tx is
// with a sequence above after, in order, at most limit, of the given types
// (all when empty).
func readOutbox(ctx context.Context, tx *sqlx.Tx, tenantID string, after int64, limit int, types []string) ([]Event, error) {
	const q = `SELECT id, sequence, type, at, actor, data FROM events
		WHERE sequence > $1 AND (coalesce(cardinality($2::text[]), 0) = 0 OR type = ANY($2))
		ORDER BY sequence LIMIT $3`
	rows, err := tx.QueryContext(ctx, q, after, pq.Array(types), limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return scanOutbox(rows, tenantID)
}

// scanOutbox reads and closes rows of id, sequence, type, at, actor and
// data from a tenant's outbox.
func scanOutbox(rows *sql.Rows, tenantID string) ([]Event, error) {
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		e := Event{TenantID: tenantID}
		var data []byte
		if err := rows.Scan(&e.ID, &e.Sequence, &e.Type, &e.Time, &e.Actor, &data); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		e.Data = data
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return evs, nil
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
		if !slices.Contains(Types, t) {
			return app.Errorf(app.EINVALID, "unknown event type %q", t)
		}
	}
	return nil
}
