package scim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// A create in one statement.
//
// CreateResource takes a round trip for each of its steps (the quota's
// counter, the row, its emails), and its caller more for the audit record,
// the events and a re-read. A User create that restores nothing has all
// it needs before it starts: its id is new, its version 1, and its
// timestamps the transaction's. So CreateInOne does it all in one SQL
// statement of data-modifying CTEs: the counter row locked, the row
// inserted only while the count is below the quota, the counter moved,
// the emails, and riders: what the caller writes with it (the audit
// record, the events), each reading the created row from the CTE r, and
// writing nothing when r is empty (the quota refused it). A failing part
// fails the statement, so all of it is written or none.

// A Rider is SQL that runs in the statement of CreateInOne, after its
// row: one or more CTEs (name AS (…), …, with names of their own) that read
// the created row from r (columns id, version, created, last_modified).
// Its parameters are numbered from $1 for Args; CreateInOne renumbers
// them, so SQL holds no other $ followed by a digit.
type Rider struct {
	SQL  string
	Args []any
}

// StampsSQL is SQL of type jsonb: the created row's meta.created and
// meta.lastModified as Render writes them (RFC 3339 in UTC, fractions
// without trailing zeros), for a rider whose data holds the rendered
// resource, such as its event.
const StampsSQL = `jsonb_build_object('created', (to_jsonb(r.created AT TIME ZONE 'UTC') #>> '{}') || 'Z',
	'lastModified', (to_jsonb(r.last_modified AT TIME ZONE 'UTC') #>> '{}') || 'Z')`

// OneStatement reports whether a create of rt can be made by CreateInOne:
// Users, unless the tenant soft-deletes them (a create may then restore
// one, which takes a look first).
func OneStatement(rt *ResourceType) bool { return rt.Is(UserResource) && !rt.softUsers() }

// CreateInOne creates a resource of rt as CreateResource does, with the
// riders that riders returns for it (given the resource as it will be
// stored: its id, data and version, without its timestamps), in one SQL
// statement, run with ctx (which may be store.Final). It returns the
// resource as stored, with no memberships (a new user is in no group),
// and the errors of CreateResource. rt must be one that OneStatement
// allows.
//
// With a tally (LockTally), the quota is checked against the tally and the
// counter row is left to Tally.Flush.
func CreateInOne(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, attrs map[string]any, quota int, tally *Tally, riders func(r *Resource) ([]Rider, error)) (*Resource, error) {
	if !OneStatement(rt) {
		return nil, fmt.Errorf("create %s in one statement: not possible for this type", rt.Name)
	}
	if tally != nil && tally.value+tally.added >= int64(quota) {
		return nil, quotaReached(rt, quota)
	}
	r := &Resource{Type: rt, ID: uuid.NewString(), Version: 1, Members: []Member{}}
	password, hasPassword := TakePassword(attrs)
	setDefaults(rt, attrs)
	delete(attrs, "groups")
	js, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", rt.Name, err)
	}
	r.Data = attrs
	hash, err := hashPassword(password, hasPassword)
	if err != nil {
		return nil, err
	}
	str := func(name string) *string {
		if s, ok := attrs[name].(string); ok {
			return &s
		}
		return nil
	}
	active, _ := attrs["active"].(bool)
	values, types, primaries := emailRows(attrs)
	args := []any{r.ID, str("userName"), str("externalId"), str("displayName"), active, hash, string(js), quota,
		pq.Array(values), pq.Array(types), pq.Array(primaries)}
	var q strings.Builder
	if tally == nil {
		q.WriteString(`WITH q AS (SELECT value FROM counters WHERE name = 'users' FOR UPDATE),
	r AS (INSERT INTO users (id, user_name, external_id, display_name, active, password_hash, data)
		SELECT $1::uuid, $2::text, $3::text, $4::text, $5::boolean, $6::text, $7::jsonb FROM q WHERE q.value < $8::bigint
		RETURNING id, version, created, last_modified), ` + moveCounter("users", "+", "r") + `,`)
	} else {
		q.WriteString(`WITH q AS (SELECT $8::bigint),
	r AS (INSERT INTO users (id, user_name, external_id, display_name, active, password_hash, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id, version, created, last_modified),`)
	}
	q.WriteString(`
	emails AS (INSERT INTO user_emails (user_id, value, type, is_primary)
		SELECT r.id, v, NULLIF(t, ''), p FROM r, unnest($9::text[], $10::text[], $11::boolean[]) AS x(v, t, p))`)
	rs, err := riders(r)
	if err != nil {
		return nil, err
	}
	for _, rd := range rs {
		q.WriteString(",\n\t")
		q.WriteString(renumber(rd.SQL, len(args)))
		args = append(args, rd.Args...)
	}
	q.WriteString("\n\tSELECT r.version, r.created, r.last_modified FROM q LEFT JOIN r ON true")
	var version *int64
	var created, modified *time.Time
	err = tx.QueryRowxContext(ctx, q.String(), args...).Scan(&version, &created, &modified)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("check quota: no counter of users")
	case err != nil:
		return nil, uniqueness(rt, attrs, err)
	case version == nil:
		return nil, quotaReached(rt, quota)
	}
	r.Version, r.Created, r.LastModified = *version, *created, *modified
	if tally != nil {
		tally.added++
	}
	return r, nil
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

var paramRef = regexp.MustCompile(`\$([0-9]+)`)

// renumber shifts the $n parameters of a rider's SQL by n.
func renumber(sql string, n int) string {
	return paramRef.ReplaceAllStringFunc(sql, func(p string) string {
		k, _ := strconv.Atoi(p[1:])
		return "$" + strconv.Itoa(k+n)
	})
}
