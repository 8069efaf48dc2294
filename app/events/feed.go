package events

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// MaxWait bounds a long poll's wait.
const MaxWait = 30 * time.Second

// Query selects a page of the feed.
type Query struct {
	// After is a cursor (Event.Cursor): the page starts after that event.
	// Empty: from the oldest event retained.
	After string
	Limit int // DefaultLimit when 0, at most MaxLimit
	// Scope is the tenants the caller may see (an events key's); nil
	// means all.
	Scope []string
	// Tenant narrows the page to one tenant; "" means all in Scope. A
	// tenant that does not exist or is out of Scope gives an empty page,
	// like a tenant without events, so that the answer tells nothing.
	Tenant string
	Types  []string // all when empty
}

// Page is a page of the feed. Next is the cursor of its last event, or the
// query's After when it has none: the cursor to ask after next.
type Page struct {
	Events []Event `json:"events"`
	Next   string  `json:"next"`
}

// cursorOf and parseCursor turn a feed position into the opaque cursor the
// API shows and back. Positions are stored, so cursors survive restarts.
func cursorOf(position int64) string { return strconv.FormatInt(position, 10) }

func parseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, app.Errorf(app.EINVALID, "after: %q is not a cursor of this feed", s)
	}
	return n, nil
}

// check returns EINVALID for a query the feed cannot answer: a bad cursor,
// limit or event type.
func (q Query) check() error {
	if _, err := parseCursor(q.After); err != nil {
		return err
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return app.Errorf(app.EINVALID, "limit must be between 1 and %d", MaxLimit)
	}
	return checkTypes(q.Types)
}

// Find returns the page of the feed q asks for, in feed order: each
// tenant's events in their sequence order. Reading on from Next never
// skips an event nor repeats one. It returns EINVALID for a bad query.
func (s *Service) Find(ctx context.Context, q Query) (*Page, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	after, _ := parseCursor(q.After)
	page := &Page{Events: []Event{}, Next: q.After}
	if q.Tenant != "" && (!store.ValidTenantID(q.Tenant) || q.Scope != nil && !slices.Contains(q.Scope, q.Tenant)) {
		return page, nil
	}
	var scope any // NULL: every tenant
	if q.Scope != nil {
		scope = pq.Array(q.Scope)
	}
	const sq = `SELECT ` + feedColumns + ` FROM control.events
		WHERE position > $1 AND ($2::text[] IS NULL OR tenant_id = ANY($2)) AND ($3 = '' OR tenant_id = $3)
			AND (coalesce(cardinality($4::text[]), 0) = 0 OR type = ANY($4))
		ORDER BY position LIMIT $5`
	evs, err := readFeed(s.DB.QueryContext(ctx, sq, after, scope, q.Tenant, pq.Array(q.Types), pageSize(q.Limit)))
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		page.Events, page.Next = evs, evs[len(evs)-1].Cursor
	}
	return page, nil
}

// NextEvent returns the tenant's first event in the feed with a sequence
// above after and written at or after since, or nil when there is none
// yet: what a webhook endpoint added at since is sent next.
func NextEvent(ctx context.Context, db *store.DB, tenantID string, after int64, since time.Time) (*Event, error) {
	const q = `SELECT ` + feedColumns + ` FROM control.events
		WHERE tenant_id = $1 AND sequence > $2 AND at >= $3 ORDER BY sequence LIMIT 1`
	evs, err := readFeed(db.QueryContext(ctx, q, tenantID, after, since))
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	return &evs[0], nil
}

// feedColumns are the columns of control.events that readFeed reads.
const feedColumns = `position, id, tenant_id, sequence, type, at, actor, data`

// readFeed reads and closes the rows of a query of feedColumns.
func readFeed(rows *sql.Rows, err error) ([]Event, error) {
	if err != nil {
		return nil, fmt.Errorf("read the feed: %w", store.Unavailable(err))
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		var e Event
		var pos int64
		var data []byte
		if err := rows.Scan(&pos, &e.ID, &e.TenantID, &e.Sequence, &e.Type, &e.Time, &e.Actor, &data); err != nil {
			return nil, fmt.Errorf("read the feed: %w", err)
		}
		e.Cursor, e.Data, e.Time = cursorOf(pos), data, e.Time.UTC()
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the feed: %w", store.Unavailable(err))
	}
	return evs, nil
}

// Poll is Find that, when the page is empty, waits up to wait (at most
// MaxWait) for events to arrive and returns them as soon as they do. An
// empty page after the wait is an answer, not an error; so is one when ctx
// ends (the client went away).
func (s *Service) Poll(ctx context.Context, q Query, wait time.Duration) (*Page, error) {
	deadline := time.Now().Add(min(wait, MaxWait))
	for {
		grown := Grown() // before reading, so no growth is missed
		page, err := s.Find(ctx, q)
		if err != nil || len(page.Events) > 0 {
			return page, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return page, nil
		}
		// Look again now and then even without a signal, in case the
		// listener is down.
		timer := time.NewTimer(min(left, 2*time.Second))
		select {
		case <-grown:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return page, nil
		}
		timer.Stop()
	}
}
