package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Users created set-based.
//
// CreateResource takes a round trip for each of its steps (the quota's
// counter, the row, its emails), and its caller more for the audit record,
// the events and a re-read. A User create that restores nothing has all
// it needs before it starts: its id is new, its version 1, and its
// timestamps the transaction's. So CreateUsers creates a run of users, one
// or a thousand, in one SQL statement of data-modifying CTEs over arrays
// (unnest … WITH ORDINALITY): the counter row locked (or the caller's
// Tally read), the rows inserted while the count stays within the quota,
// the counter moved, the emails, and riders: what the caller writes with
// them (the audit records, the events), each reading the created rows
// from the CTE r, and writing nothing for a user not created. A failing
// part fails the statement, so all of it is written or none.

// A Rider is SQL that runs in the statement of CreateUsers, after its
// rows: one or more CTEs (name AS (…), …, with names of their own) that
// read the created rows from r (columns n, id, version, created,
// last_modified; n is the user's place in the run, from 1, and r holds
// only the users created). It names each value it needs by the
// placeholder that arg returns for it ("$7"), so riders compose without
// renumbering.
type Rider func(arg func(v any) string) string

// StampsSQL is SQL of type jsonb: the created row's meta.created and
// meta.lastModified as Render writes them (RFC 3339 in UTC, fractions
// without trailing zeros), for a rider whose data holds the rendered
// resource, such as its event.
const StampsSQL = `jsonb_build_object('created', (to_jsonb(r.created AT TIME ZONE 'UTC') #>> '{}') || 'Z',
	'lastModified', (to_jsonb(r.last_modified AT TIME ZONE 'UTC') #>> '{}') || 'Z')`

// OneStatement reports whether Users of rt can be created by CreateUsers:
// unless the tenant soft-deletes them (a create may then restore one,
// which takes a look first).
func OneStatement(rt *ResourceType) bool { return rt.Is(UserResource) && !rt.softUsers() }

// A NewUser is a User ready for CreateUsers: its resource as it will be
// stored (a new id, its data, version 1; CreateUsers sets its timestamps)
// and its row's values.
type NewUser struct {
	R    *Resource
	data string // R's attributes as JSON
	hash string // of the password, "" for none
}

// PrepareUser returns the NewUser of normalized attributes of rt (which
// it takes): the defaults set, the password hashed.
func PrepareUser(rt *ResourceType, attrs map[string]any) (*NewUser, error) {
	password, hasPassword := TakePassword(attrs)
	setDefaults(rt, attrs)
	delete(attrs, "groups")
	js, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", rt.Name, err)
	}
	hash, err := hashPassword(password, hasPassword)
	if err != nil {
		return nil, err
	}
	u := &NewUser{R: &Resource{Type: rt, ID: uuid.NewString(), Version: 1, data: attrs, Members: []Member{}}, data: string(js)}
	if hash != nil {
		u.hash = *hash
	}
	return u, nil
}

// CreateUsers creates the users us of rt, in order, with the riders, in
// one SQL statement run with ctx (which may be store.Final), and reports
// which it created (created[k] for us[k]), setting their timestamps. quota
// is how many users the tenant may hold; with a tally (LockTally) the
// count is the tally's and the counter row is left to Tally.Flush.
//
// A run of one fails as CreateResource does: ECONFLICT (uniqueness) for a
// userName, or a unique extension attribute, that is taken, and EFORBIDDEN
// (quota) past the quota. A longer run skips, and leaves uncreated, each
// user whose unique values are taken (by a stored user or one before it
// in the run) and each past the quota, counted by place in the run; the
// caller learns why by creating it alone. Any other failure fails the
// whole statement. rt must be one that OneStatement allows.
func CreateUsers(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, us []*NewUser, quota int, tally *Tally, riders ...Rider) (created []bool, _ error) {
	if !OneStatement(rt) {
		return nil, fmt.Errorf("create %s in one statement: not possible for this type", rt.Name)
	}
	if tally != nil && tally.value+tally.added >= int64(quota) {
		if len(us) == 1 {
			return nil, quotaReached(rt, quota)
		}
		return make([]bool, len(us)), nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	ids := make([]string, len(us))
	data := make([]string, len(us))
	hashes := make([]string, len(us))
	var values, types []string
	var primaries []bool
	var owners []int64
	for k, u := range us {
		ids[k], data[k], hashes[k] = u.R.ID, u.data, u.hash
		v, t, p := emailRows(u.R.data)
		values, types, primaries = append(values, v...), append(types, t...), append(primaries, p...)
		for range v {
			owners = append(owners, int64(k+1))
		}
	}
	var q strings.Builder
	if tally == nil {
		q.WriteString(`WITH q AS (SELECT value FROM counters WHERE name = 'users' FOR UPDATE),`)
	} else {
		q.WriteString(`WITH q AS (SELECT ` + arg(tally.value+tally.added) + `::bigint AS value),`)
	}
	// A run of one fails on a taken userName, so that the error names the
	// index; a longer run skips it (see above).
	conflict := ""
	if len(us) > 1 {
		conflict = "ON CONFLICT DO NOTHING"
	}
	// The columns take the attributes as write does: a string, or NULL.
	q.WriteString(`
	i AS (SELECT * FROM ROWS FROM (unnest(` + arg(pq.Array(ids)) + `::uuid[]), jsonb_array_elements(` + arg(app.JSONArray(data)) + `::jsonb),
		unnest(` + arg(pq.Array(hashes)) + `::text[])) WITH ORDINALITY AS i(id, d, hash, n)),
	ins AS (INSERT INTO users (id, user_name, external_id, display_name, active, password_hash, data)
		SELECT i.id, i.d->>'userName', ` + jsonString("i.d", "externalId") + `, ` + jsonString("i.d", "displayName") + `,
			CASE WHEN jsonb_typeof(i.d->'active') = 'boolean' THEN (i.d->'active')::boolean ELSE false END, NULLIF(i.hash, ''), i.d
		FROM q, i WHERE q.value + i.n <= ` + arg(int64(quota)) + ` ORDER BY i.n ` + conflict + `
		RETURNING id, version, created, last_modified),
	r AS (SELECT i.n, ins.id, ins.version, ins.created, ins.last_modified FROM ins JOIN i ON i.id = ins.id),`)
	if tally == nil {
		q.WriteString("\n\t" + moveCounter("users", "+", "r") + ",")
	}
	q.WriteString(`
	emails AS (INSERT INTO user_emails (user_id, value, type, is_primary)
		SELECT r.id, e.v, NULLIF(e.t, ''), e.p FROM r JOIN unnest(` + arg(pq.Array(values)) + `::text[], ` + arg(pq.Array(types)) + `::text[], ` +
		arg(pq.Array(primaries)) + `::boolean[], ` + arg(pq.Array(owners)) + `::bigint[]) AS e(v, t, p, o) ON e.o = r.n)`)
	for _, rd := range riders {
		q.WriteString(",\n\t")
		q.WriteString(rd(arg))
	}
	q.WriteString("\n\tSELECT q.value, r.n, r.version, r.created, r.last_modified FROM q LEFT JOIN r ON true ORDER BY r.n")
	rows, err := tx.QueryxContext(ctx, q.String(), args...)
	if err != nil {
		return nil, createError(rt, us, err)
	}
	defer rows.Close()
	created = make([]bool, len(us))
	var count, n int64
	var row bool
	for rows.Next() {
		row = true
		var k *int64
		var version *int64
		var c, m *time.Time
		if err := rows.Scan(&count, &k, &version, &c, &m); err != nil {
			return nil, fmt.Errorf("create users: %w", err)
		}
		if k == nil {
			continue
		}
		r := us[*k-1].R
		r.Version, r.Created, r.LastModified = *version, *c, *m
		created[*k-1] = true
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, createError(rt, us, err)
	}
	switch {
	case !row:
		return nil, fmt.Errorf("check quota: no counter of users")
	case len(us) == 1 && n == 0:
		return nil, quotaReached(rt, quota)
	}
	if tally != nil {
		tally.added += n
	}
	return created, nil
}

// jsonString is SQL of the attribute name of the jsonb object obj when it
// is a string, NULL otherwise.
func jsonString(obj, name string) string {
	return `CASE WHEN jsonb_typeof(` + obj + `->'` + name + `') = 'string' THEN ` + obj + `->>'` + name + `' END`
}

// createError is the error of CreateUsers' statement failing with err.
func createError(rt *ResourceType, us []*NewUser, err error) error {
	if len(us) == 1 {
		return uniqueness(rt, us[0].R.data, err)
	}
	return fmt.Errorf("create %d users: %w", len(us), err)
}

// A Tally counts the resources of one type for a run of creates in one
// transaction, such as a Bulk request's, in the caller instead of in the
// counter row. Every version of a row that a transaction writes stays
// until it ends, and each update of the row walks them all: moving the
// counter once per create makes each create of a Bulk cost more than the
// last. LockTally locks the counter row until the transaction ends and
// reads it once; creates with the tally check the quota against it and
// leave the row alone; Flush adds what they added, once. The lock is
// what keeps the quota exact: no other transaction creates meanwhile.
// The run's other writes (deletes, say) move the row themselves, which the
// tally does not see: its quota check then errs on the side of refusing.
type Tally struct {
	rt           *ResourceType
	value, added int64
}

// LockTally locks rt's counter row and returns its tally. Call it outside
// any savepoint that may be rolled back, which would release the lock.
func LockTally(ctx context.Context, tx *sqlx.Tx, rt *ResourceType) (*Tally, error) {
	t := &Tally{rt: rt}
	if err := tx.GetContext(ctx, &t.value, `SELECT value FROM counters WHERE name = $1 FOR UPDATE`, rt.store.table); err != nil {
		return nil, fmt.Errorf("lock the counter of %s: %w", rt.Name, err)
	}
	return t, nil
}

// Added returns how many creates the tally counted; SetAdded sets it back,
// when the savepoint of the creates since is rolled back.
func (t *Tally) Added() int64 { return t.added }

// SetAdded: see Added.
func (t *Tally) SetAdded(n int64) { t.added = n }

// Flush adds the creates counted to the counter row.
func (t *Tally) Flush(ctx context.Context, tx *sqlx.Tx) error {
	if t.added == 0 {
		return nil
	}
	const q = `UPDATE counters SET value = value + $1 WHERE name = $2 AND to_regprocedure('count_rows()') IS NULL`
	if _, err := tx.ExecContext(ctx, q, t.added, t.rt.store.table); err != nil {
		return fmt.Errorf("count %s: %w", t.rt.Name, err)
	}
	return nil
}
