package scim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// The store functions below read and write one tenant's Users and Groups.
// They take the transaction store.InTenant opened, whose search_path names
// the tenant's schema: their SQL never names a schema.

// ListQuery is what a client asks of a list (RFC 7644 §3.4.2).
type ListQuery struct {
	Filter     string
	SortBy     string
	SortOrder  string
	StartIndex int // 1-based; values below 1 are taken as 1
	Count      int // page size, at most the caller's maximum; 0 asks for totalResults only
	// Members says whether to load members (Groups) or groups (Users).
	Members bool
	// Across lists the types a search at the root spans (RFC 7644
	// §3.4.3): the filter may name attributes of any of them, and one
	// this type lacks is unassigned here.
	Across []*ResourceType
}

// ListResult is one page of a list.
type ListResult struct {
	Total     int
	Resources []*Resource
}

// notFound is the error for an id that names no resource of rt.
func notFound(rt *ResourceType, id string) error {
	return app.Errorf(app.ENOTFOUND, "%s %q not found", rt.Name, id)
}

// parseID returns id as a UUID, or ENOTFOUND: a malformed id names nothing.
func parseID(rt *ResourceType, id string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return uuid.Nil, notFound(rt, id)
	}
	return u, nil
}

// CreateResource stores a new resource of rt from normalized attributes and
// returns it. quota is how many resources of rt the tenant may hold. It
// returns EFORBIDDEN (reason quota) when the tenant holds quota already,
// ECONFLICT (uniqueness) for a taken userName or group displayName, and
// EINVALID for members that do not exist.
func CreateResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, attrs map[string]any, quota int) (*Resource, error) {
	r := &Resource{Type: rt, ID: uuid.NewString()}
	if rt.softUsers() {
		// A soft-deleted user with this userName comes back, under its id.
		var id string
		err := tx.GetContext(ctx, &id, restoreSQL, attrs["userName"])
		if err == nil {
			r.ID = id
			if err := write(ctx, tx, r, attrs, false); err != nil {
				return nil, err
			}
			_, err = tx.ExecContext(ctx, `UPDATE users SET deleted_at = NULL WHERE id = $1`, id)
			return r, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("find deleted user: %w", err)
		}
	}
	if err := reserve(ctx, tx, rt, quota); err != nil {
		return nil, err
	}
	members := takeMembers(rt, attrs)
	if err := write(ctx, tx, r, attrs, true); err != nil {
		return nil, err
	}
	if rt.Is(GroupResource) {
		_, err := setMembers(ctx, tx, rt, r.ID, members, true)
		return r, err
	}
	return r, nil
}

// Change is what a replace or patch did besides writing the resource's
// attributes, for the events it is told by: the members it added to and
// removed from a Group (ids), and whether it turned a User's active from
// true to false.
type Change struct {
	Added, Removed []string
	Deactivated    bool
}

// reserve checks that one more resource of rt stays within quota. It locks
// the counter row, which the writes keep equal to the row count (see
// moveCounter), until the transaction ends: concurrent creates of the tenant
// take turns here, so no two of them can both take the last place.
func reserve(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, quota int) error {
	var n int64
	if err := tx.GetContext(ctx, &n, `SELECT value FROM counters WHERE name = $1 FOR UPDATE`, rt.store.table); err != nil {
		return fmt.Errorf("check quota: %w", err)
	}
	if n >= int64(quota) {
		return quotaReached(rt, quota)
	}
	return nil
}

// quotaReached is the refusal of a create past the tenant's quota.
func quotaReached(rt *ResourceType, quota int) error {
	return app.Refusef(app.EFORBIDDEN, app.ReasonQuota, "the tenant's quota of %d %s is reached", quota, strings.ToLower(rt.Name)+"s")
}

// Counts returns how many users, groups and group memberships the tenant
// holds, from the counters the writes keep (see moveCounter).
func Counts(ctx context.Context, tx *sqlx.Tx) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, value FROM counters`)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		counts[name] = n
	}
	return counts, rows.Err()
}

// ReplaceResource replaces all client-settable attributes of the resource
// (PUT). version, when not 0, must match the stored version (If-Match), else
// EPRECONDITION. It returns ENOTFOUND for an unknown id and the errors of
// CreateResource.
func ReplaceResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, version int64, attrs map[string]any) (*Resource, Change, error) {
	var c Change
	if !rt.Is(UserResource) {
		if _, err := lockVersion(ctx, tx, rt, id, version); err != nil {
			return nil, c, err
		}
	} else {
		cur, err := lockResource(ctx, tx, rt, id, version)
		if err != nil {
			return nil, c, err
		}
		active := cur.data["active"] == true
		if _, ok := attrs["active"]; !ok {
			// A PUT that leaves active out (Okta's do) keeps it as it is.
			attrs["active"] = active
		}
		c.Deactivated = active && attrs["active"] == false
	}
	r := &Resource{Type: rt, ID: id}
	members := takeMembers(rt, attrs)
	if err := write(ctx, tx, r, attrs, false); err != nil {
		return nil, c, err
	}
	if rt.Is(GroupResource) {
		var err error
		c, err = setMembers(ctx, tx, rt, r.ID, members, true)
		return r, c, err
	}
	return r, c, nil
}

// PatchResource applies PATCH operations (RFC 7644 §3.5.2) to the resource
// of rt with the given id, all or nothing. version, when not 0, must match
// (If-Match). A Group's membership changes touch only the member rows named:
// the member list is never loaded. changed is false when the operations
// leave the resource as it was (an add of a value it holds, a replace with
// the same value, a remove of what is absent): then nothing is written and
// the resource keeps its version and lastModified, as RFC 7644 §3.5.2.1
// asks. It returns ENOTFOUND, EPRECONDITION, and the EINVALID errors of
// ApplyPatch (invalidPath, noTarget, mutability, invalidValue) and of
// CreateResource.
func PatchResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, version int64, ops []PatchOp) (r *Resource, c Change, changed bool, err error) {
	cur, err := lockResource(ctx, tx, rt, id, version)
	if err != nil {
		return nil, c, false, err
	}
	attrs, changes, err := rt.ApplyPatch(cur.data, ops)
	if err != nil {
		return nil, c, false, err
	}
	setDefaults(rt, attrs)
	changed = !rt.keeps(cur.data, attrs)
	if rt.Is(GroupResource) {
		if c, err = changeMembers(ctx, tx, rt, id, changes); err != nil {
			return nil, c, false, err
		}
		changed = changed || len(c.Added)+len(c.Removed) > 0
	}
	if !changed {
		return cur, c, false, nil
	}
	c.Deactivated = rt.Is(UserResource) && cur.data["active"] == true && attrs["active"] == false
	r = &Resource{Type: rt, ID: id}
	if err := write(ctx, tx, r, attrs, false); err != nil {
		return nil, c, false, err
	}
	return r, c, true, nil
}

// changeMembers applies the member changes of a PATCH to the group's rows
// and returns the members added and removed.
func changeMembers(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, groupID string, mc MemberChanges) (Change, error) {
	if mc.ReplaceAll {
		return setMembers(ctx, tx, rt, groupID, mc.Add, true)
	}
	var removed pq.StringArray
	if len(mc.Remove) > 0 {
		if err := tx.GetContext(ctx, &removed, removeMembersSQL, groupID, pq.Array(mc.Remove)); err != nil {
			return Change{}, fmt.Errorf("remove members: %w", err)
		}
	}
	c, err := setMembers(ctx, tx, rt, groupID, mc.Add, false)
	c.Removed = removed
	return c, err
}

// takeMembers removes the member ids from a Group's normalized attributes
// and returns them; members live as rows, never in data.
func takeMembers(rt *ResourceType, attrs map[string]any) []string {
	if !rt.Is(GroupResource) {
		return nil
	}
	list, _ := attrs["members"].([]any)
	delete(attrs, "members")
	ids := make([]string, 0, len(list))
	for _, m := range list {
		obj, _ := m.(map[string]any)
		v, _ := obj["value"].(string)
		ids = append(ids, v)
	}
	return ids
}

// lockVersion locks the resource's row for the rest of the transaction and
// checks its version against want (0: any).
func lockVersion(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, want int64) (int64, error) {
	u, err := parseID(rt, id)
	if err != nil {
		return 0, err
	}
	var v int64
	err = tx.GetContext(ctx, &v, `SELECT version FROM `+rt.store.table+` WHERE id = $1`+rt.live()+` FOR UPDATE`, u)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(rt, id)
	}
	if err != nil {
		return 0, fmt.Errorf("lock %s %s: %w", rt.Name, id, err)
	}
	return v, checkVersion(rt, id, v, want)
}

// lockResource is lockVersion returning the resource as stored, its
// attributes decoded, without its memberships: the lock and the read in
// one statement.
func lockResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, want int64) (*Resource, error) {
	r, err := findByID(ctx, tx, rt, id, rt.statements().lookup+rt.live()+` FOR UPDATE`, false, true)
	if err != nil {
		return nil, err
	}
	return r, checkVersion(rt, id, r.Version, want)
}

// checkVersion returns EPRECONDITION when want, what If-Match asks for
// (0: any), is not v, the version of the resource of rt with the given id.
func checkVersion(rt *ResourceType, id string, v, want int64) error {
	if want != 0 && want != v {
		return app.Errorf(app.EPRECONDITION, "%s %q has changed: its version is %s", rt.Name, id, (&Resource{Version: v}).ETag())
	}
	return nil
}

// write inserts (create) or updates r from attrs, and a User's emails. A
// Group's members are the caller's business.
func write(ctx context.Context, tx *sqlx.Tx, r *Resource, attrs map[string]any, create bool) error {
	password, hasPassword := TakePassword(attrs)
	setDefaults(r.Type, attrs)
	delete(attrs, "groups") // readOnly; Normalize drops it already
	js, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.Type.Name, err)
	}
	data := string(js) // JSON goes as text: lib/pq sends []byte in binary format
	r.data = attrs

	row := tx.QueryRowxContext
	var q string
	var args []any
	str := func(name string) *string {
		if s, ok := attrs[name].(string); ok {
			return &s
		}
		return nil
	}
	switch r.Type.ID {
	case UserResource.ID:
		hash, err := hashPassword(password, hasPassword)
		if err != nil {
			return err
		}
		active, _ := attrs["active"].(bool)
		args = []any{r.ID, str("userName"), str("externalId"), str("displayName"), active, hash, data, served(r.Type)}
		if create {
			args = args[:len(args)-1]
			q = createUserSQL
		} else {
			// The emails are replaced in the same statement: user_emails
			// has no unique key for the old rows and the new to collide on.
			values, types, primaries := emailRows(attrs)
			args = append(args, pq.Array(values), pq.Array(types), pq.Array(primaries))
			q = `WITH u AS (UPDATE users SET user_name = $2, external_id = $3, display_name = $4, active = $5,
					password_hash = COALESCE($6, password_hash), data = $7::jsonb || ` + keepDormant("users", 8) + `,
					version = version + 1, last_modified = now()
					WHERE id = $1 RETURNING version, created, last_modified),
				gone AS (DELETE FROM user_emails WHERE user_id = $1),
				emails AS (` + insertEmailsSQL(9) + `)
				SELECT version, created, last_modified FROM u`
		}
	case GroupResource.ID:
		args = []any{r.ID, str("displayName"), str("externalId"), data, served(r.Type)}
		if create {
			args = args[:len(args)-1]
			q = createGroupSQL
		} else {
			q = `UPDATE groups SET display_name = $2, external_id = $3, data = $4::jsonb || ` + keepDormant("groups", 5) + `,
				version = version + 1, last_modified = now()
				WHERE id = $1 RETURNING version, created, last_modified`
		}
	}
	if err := row(ctx, q, args...).Scan(&r.Version, &r.Created, &r.LastModified); err != nil {
		return uniqueness(r.Type, attrs, err)
	}
	if r.Type.Is(UserResource) && create {
		return insertEmails(ctx, tx, r.ID, attrs)
	}
	return nil
}

// setDefaults gives attrs, normalized attributes about to be written, the
// values the server assigns when the client gives none.
func setDefaults(rt *ResourceType, attrs map[string]any) {
	if _, ok := attrs["active"]; !ok && rt.Is(UserResource) {
		attrs["active"] = true // RFC 7643 §4.1.1 leaves it to the provider; IdPs expect true
	}
}

// keepDormant is the SQL expression that carries over, when a row of table
// is replaced, the values stored under extension URNs that the resource type
// no longer serves: a removed extension keeps them until staff purge it.
// Parameter $n lists the URNs served, in lower case (served).
func keepDormant(table string, n int) string {
	return `COALESCE((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(` + table + `.data) e
		WHERE e.key LIKE 'urn:%' AND lower(e.key) <> ALL($` + strconv.Itoa(n) + `::text[])), '{}')`
}

// served returns the schema URNs of rt in lower case, for keepDormant.
func served(rt *ResourceType) any {
	urns := make([]string, 0, len(rt.extensions)+1)
	for _, s := range rt.schemas() {
		urns = append(urns, strings.ToLower(s.ID))
	}
	return pq.Array(urns)
}

// uniqueness turns a unique violation into the SCIM uniqueness error.
func uniqueness(rt *ResourceType, attrs map[string]any, err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		for _, ext := range rt.extensions {
			for _, a := range ext.Attributes {
				if pqErr.Constraint == IndexName(ext.ID, a) {
					v, _ := attrs[ext.ID].(map[string]any)
					return app.ScimErrorf(app.ECONFLICT, app.ScimUniqueness, "%s %q is already taken", pathName(ext, "", a), fmt.Sprint(v[a.Name]))
				}
			}
		}
		if rt.Is(UserResource) {
			return app.ScimErrorf(app.ECONFLICT, app.ScimUniqueness, "userName %q is already taken", attrs["userName"])
		}
		return app.ScimErrorf(app.ECONFLICT, app.ScimUniqueness, "a group named %q already exists", attrs["displayName"])
	}
	return fmt.Errorf("write %s: %w", rt.Name, err)
}

// insertEmails mirrors a new user's emails into user_emails, where filters
// on emails find them through an index; an update of the user replaces
// them in its own statement (write).
func insertEmails(ctx context.Context, tx *sqlx.Tx, userID string, attrs map[string]any) error {
	values, types, primaries := emailRows(attrs)
	if len(values) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, insertEmailsSQL(2), userID, pq.Array(values), pq.Array(types), pq.Array(primaries)); err != nil {
		return fmt.Errorf("write emails: %w", err)
	}
	return nil
}

// insertEmailsSQL inserts the emails of user $1 given as arrays of values,
// types and primaries in the parameters from $first on.
func insertEmailsSQL(first int) string {
	n := func(k int) string { return "$" + strconv.Itoa(first+k) }
	return `INSERT INTO user_emails (user_id, value, type, is_primary)
		SELECT $1, v, NULLIF(t, ''), p FROM unnest(` + n(0) + `::text[], ` + n(1) + `::text[], ` + n(2) + `::boolean[]) AS x(v, t, p)`
}

// emailRows returns the rows of user_emails for a user's attributes: each
// email's value, type and primary, those without a value left out.
func emailRows(attrs map[string]any) (values, types []string, primaries []bool) {
	emails, _ := attrs["emails"].([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		t, _ := m["type"].(string)
		p, _ := m["primary"].(bool)
		values, types, primaries = append(values, v), append(types, t), append(primaries, p)
	}
	return values, types, primaries
}

// hashPassword returns the bcrypt hash of a user's password, nil when the
// write sets none.
func hashPassword(password string, has bool) (*string, error) {
	if !has {
		return nil, nil
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "password: %v", err)
	}
	h := string(b)
	return &h, nil
}

// setMembers adds the Users and Groups with the given ids to the group;
// with replace, it also removes every other member. Only the rows that
// change are touched, and it returns their ids. Ids must name Users or
// Groups of this tenant, and not the group itself: EINVALID (invalidValue)
// otherwise.
func setMembers(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, groupID string, ids []string, replace bool) (Change, error) {
	var c Change
	found, err := resolveMembers(ctx, tx, rt, groupID, ids)
	if err != nil {
		return c, err
	}
	values := make([]string, len(found))
	types := make([]string, len(found))
	for i, m := range found {
		values[i], types[i] = m.Value, m.Type
	}
	if replace {
		var removed pq.StringArray
		if err := tx.GetContext(ctx, &removed, keepMembersSQL, groupID, pq.Array(values)); err != nil {
			return c, fmt.Errorf("replace members: %w", err)
		}
		c.Removed = removed
	}
	if len(values) == 0 {
		return c, nil
	}
	var added pq.StringArray
	if err := tx.GetContext(ctx, &added, addMembersSQL, groupID, pq.Array(values), pq.Array(types)); err != nil {
		return c, fmt.Errorf("add members: %w", err)
	}
	c.Added = added
	return c, nil
}

// resolveMembers returns each id as a User or Group of this tenant, each
// once. Unknown ids are refused rather than kept dangling, and so are
// soft-deleted users when rt, the tenant's Group type, follows SoftDelete.
func resolveMembers(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, groupID string, ids []string) ([]Member, error) {
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, v := range ids {
		u, err := uuid.Parse(v)
		if err != nil {
			return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "members: %q is not the id of a User or Group", v)
		}
		if id := u.String(); !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if seen[groupID] {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "members: a group cannot be a member of itself")
	}
	if len(uniq) == 0 {
		return nil, nil
	}
	var found []Member
	live := ""
	if rt.rules.SoftDelete {
		live = ` AND deleted_at IS NULL`
	}
	resolve := `
		SELECT id::text AS value, 'User' AS type FROM users WHERE id = ANY($1::uuid[])` + live + `
		UNION ALL
		SELECT id::text, 'Group' FROM groups WHERE id = ANY($1::uuid[])`
	if err := tx.SelectContext(ctx, &found, resolve, pq.Array(uniq)); err != nil {
		return nil, fmt.Errorf("resolve members: %w", err)
	}
	if len(found) != len(uniq) {
		known := make(map[string]bool, len(found))
		for _, m := range found {
			known[m.Value] = true
		}
		for _, id := range uniq {
			if !known[id] {
				return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "members: no User or Group has id %q", id)
			}
		}
	}
	return found, nil
}

// FindResource returns the resource of rt with the given id, with its
// members (or groups) when withMembers. It returns ENOTFOUND for an unknown
// or malformed id.
func FindResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, withMembers bool) (*Resource, error) {
	return findResource(ctx, tx, rt, id, withMembers, true)
}

// findResource is FindResource, with the attributes decoded (Data) or kept
// as stored (see ReadResource).
func findResource(ctx context.Context, q sqlx.QueryerContext, rt *ResourceType, id string, withMembers, decode bool) (*Resource, error) {
	// The same statement for every resource of the tenant: a lookup.
	query := rt.statements().lookup
	if withMembers {
		query = rt.statements().lookupMembers
	}
	return findByID(store.Lookup(ctx), q, rt, id, query+rt.live(), withMembers, decode)
}

// findByID runs query, a statement of findResources whose $1 is the
// resource's id, for the resource of rt with the given id, and returns
// ENOTFOUND when there is none.
func findByID(ctx context.Context, q sqlx.QueryerContext, rt *ResourceType, id, query string, withMembers, decode bool) (*Resource, error) {
	if _, err := parseID(rt, id); err != nil {
		return nil, err
	}
	// id is a UUID's 36 characters (parseID): it goes as it is, which
	// PostgreSQL reads as the same uuid as the text uuid.UUID.Value writes.
	rs, err := findResources(ctx, q, rt, query, withMembers, []any{id}, decode)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound(rt, id)
	}
	return rs[0], nil
}

// FindResources returns a page of the resources of rt that match q.Filter,
// sorted, with the total count. Their attributes stay as stored (see
// ReadResource). It returns EINVALID (invalidFilter,
// invalidValue) for a bad filter or sort.
func FindResources(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, q ListQuery) (*ListResult, error) {
	where, args, order, err := rt.listSQL(q)
	if err != nil {
		return nil, err
	}
	res := &ListResult{Resources: []*Resource{}}
	start := max(q.StartIndex, 1)
	if q.Count > 0 {
		n := len(args)
		clause := `WHERE ` + where + ` ORDER BY ` + order +
			` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
		if res.Resources, err = findResources(ctx, tx, rt, rt.statements().selectFrom+clause, false, append(args, q.Count, start-1), false); err != nil {
			return nil, err
		}
		if q.Members {
			if err := loadMembers(ctx, tx, rt, res.Resources); err != nil {
				return nil, err
			}
		}
		// A page that is not full and not past the end tells the total.
		if k := len(res.Resources); k < q.Count && (k > 0 || start == 1) {
			res.Total = start - 1 + k
			return res, nil
		}
	}
	if err := tx.GetContext(ctx, &res.Total, `SELECT count(*) FROM `+rt.store.table+` WHERE `+where, args...); err != nil {
		return nil, fmt.Errorf("count %s: %w", rt.Name, err)
	}
	return res, nil
}

// FindFirstPage is FindResources for the first page of a list that fits
// in it, such as the answer to an identity provider's "does this user
// exist?" filter: one statement, to run on its own in a transaction of one
// search (store.InTenantSearch), reads the page with its memberships and
// one resource more, and so tells whether the page holds every match, and
// then the total. It returns nil when it does not (more match than
// q.Count), or when q asks for another page or for the total only:
// FindResources answers those.
func FindFirstPage(ctx context.Context, q sqlx.QueryerContext, rt *ResourceType, lq ListQuery) (*ListResult, error) {
	if lq.Count <= 0 || lq.StartIndex > 1 {
		return nil, nil
	}
	where, args, order, err := rt.listSQL(lq)
	if err != nil {
		return nil, err
	}
	query := rt.statements().selectFrom
	if lq.Members {
		// Without an OFFSET the memberships are read only for the rows the
		// page returns (see loadMembers).
		query = rt.statements().selectMembers
	}
	query += `WHERE ` + where + ` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(len(args)+1)
	rs, err := findResources(ctx, q, rt, query, lq.Members, append(args, lq.Count+1), false)
	if err != nil || len(rs) > lq.Count {
		return nil, err
	}
	return &ListResult{Total: len(rs), Resources: rs}, nil
}

// listSQL returns the condition of q's list, with its arguments from $1,
// and its order.
func (rt *ResourceType) listSQL(q ListQuery) (where string, args []any, order string, err error) {
	where = "TRUE"
	if strings.TrimSpace(q.Filter) != "" {
		if where, args, err = rt.compileFilter(q.Filter, 0, q.Across); err != nil {
			return "", nil, "", err
		}
	}
	if rt.softUsers() && !namesActive(q.Filter) {
		where = "(" + where + ")" + rt.live()
	}
	if order, err = rt.OrderBy(q.SortBy, q.SortOrder); err != nil {
		return "", nil, "", err
	}
	return where, args, order, nil
}

// typeSQL is the SQL text of reads of a resource type that its storage
// alone determines, written once per ResourceType (statements).
type typeSQL struct {
	// selectFrom is "SELECT <the columns findResources scans> FROM <table> ",
	// for a clause to follow; selectMembers the same with the memberships
	// column.
	selectFrom, selectMembers string
	// lookup and lookupMembers are findResource's statement, without and
	// with the memberships column, less live's condition.
	lookup, lookupMembers string
	live                  string // what live returns for soft-deleted users to hide
}

// statements returns the SQL text of rt's reads.
func (rt *ResourceType) statements() *typeSQL {
	d := rt.derive()
	d.sqlOnce.Do(func() {
		table := rt.store.table
		cols := table + `.id::text, ` + table + `.version, ` + table + `.created, ` + table + `.last_modified, ` + table + `.data`
		d.sql.selectFrom = `SELECT ` + cols + ` FROM ` + table + ` `
		d.sql.lookup = d.sql.selectFrom + `WHERE id = $1`
		d.sql.selectMembers = `SELECT ` + cols + `, ` + membershipsOf(rt).ofRow(rt) + ` FROM ` + table + ` `
		d.sql.lookupMembers = d.sql.selectMembers + `WHERE id = $1`
		d.sql.live = ` AND ` + table + `.deleted_at IS NULL`
	})
	return &d.sql
}

// findResources runs query, a SELECT of the columns of typeSQL.selectFrom
// and, withMembers, one more: a JSON array of the row's Members (see
// memberships.ofRow). decode says whether to decode the attributes into
// Data or keep them as stored.
func findResources(ctx context.Context, q sqlx.QueryerContext, rt *ResourceType, query string, withMembers bool, args []any, decode bool) ([]*Resource, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", rt.Name, err)
	}
	defer rows.Close()
	rs := []*Resource{}
	for rows.Next() {
		r := &Resource{Type: rt}
		var list sql.RawBytes // decoded before the next row
		dest := []any{&r.ID, &r.Version, &r.Created, &r.LastModified, &r.stored, &list}
		if !withMembers {
			dest = dest[:5]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if decode {
			if _, err := r.Attributes(); err != nil {
				return nil, err
			}
		}
		if withMembers {
			if err := decodeMembers(r, list); err != nil {
				return nil, err
			}
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// decodeMembers sets r.Members from list, the memberships column of
// findResources: most resources have none, "[]", which needs no decoder.
func decodeMembers(r *Resource, list []byte) error {
	if string(list) == "[]" {
		r.Members = []Member{}
		return nil
	}
	if err := json.Unmarshal(list, &r.Members); err != nil {
		return fmt.Errorf("decode members of %s %s: %w", r.Type.Name, r.ID, err)
	}
	return nil
}

// memberships is the SQL of the memberships a resource shows, a Group's
// members or a User's groups: owner is the column of group_members that
// names the resource, from the tables to read, value, kind and display the
// expressions of a Member's fields, and order the order they are shown in.
type memberships struct{ owner, from, value, kind, display, order string }

func membershipsOf(rt *ResourceType) memberships {
	if rt.Is(GroupResource) {
		return memberships{
			owner: `m.group_id`,
			from: `group_members m
				LEFT JOIN users u ON m.member_type = 'User' AND u.id = m.member_id
				LEFT JOIN groups g ON m.member_type = 'Group' AND g.id = m.member_id`,
			value: `m.member_id`, kind: `m.member_type`,
			display: `COALESCE(u.display_name, u.user_name, g.display_name)`,
			order:   `m.member_id`,
		}
	}
	return memberships{
		owner: `m.member_id`,
		from:  `group_members m JOIN groups g ON g.id = m.group_id`,
		value: `m.group_id`, kind: `'direct'`, display: `g.display_name`,
		order: `g.display_name, m.group_id`,
	}
}

// ofRow returns a subquery giving the Members of the current row of rt's
// table as a JSON array, for findResources: reading one resource is then
// one statement. (In a Group's, the joined groups table is g, so
// groups.id is the row.)
func (m memberships) ofRow(rt *ResourceType) string {
	return `(SELECT COALESCE(json_agg(json_build_object('value', ` + m.value + `, 'type', ` + m.kind +
		`, 'display', ` + m.display + `) ORDER BY ` + m.order + `), '[]') FROM ` + m.from +
		` WHERE ` + m.owner + ` = ` + rt.store.table + `.id)`
}

// loadMembers fills in the Members of rs with one query. A list does this
// rather than select ofRow: PostgreSQL would run that subquery for every
// row an OFFSET skips too (docs/scaling.md).
func loadMembers(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, rs []*Resource) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*Resource, len(rs))
	ids := make([]string, len(rs))
	for i, r := range rs {
		r.Members = []Member{}
		byID[r.ID] = r
		ids[i] = r.ID
	}
	m := membershipsOf(rt)
	rows, err := tx.QueryxContext(ctx, `SELECT `+m.owner+`::text AS owner, `+m.value+`::text AS value, `+m.kind+` AS type, `+
		m.display+` AS display FROM `+m.from+` WHERE `+m.owner+` = ANY($1::uuid[]) ORDER BY `+m.owner+`, `+m.order, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("load members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row struct {
			Owner string `db:"owner"`
			Member
		}
		if err := rows.StructScan(&row); err != nil {
			return err
		}
		r := byID[row.Owner]
		r.Members = append(r.Members, row.Member)
	}
	return rows.Err()
}

// DeleteResource deletes the resource of rt with the given id, and its
// memberships: a deleted user or group leaves no group pointing at it, and
// those groups get a new version. version, when not 0, must match
// (If-Match). It returns ENOTFOUND for an unknown id.
func DeleteResource(ctx context.Context, tx *sqlx.Tx, rt *ResourceType, id string, version int64) error {
	if _, err := lockVersion(ctx, tx, rt, id, version); err != nil {
		return err
	}
	if rt.softUsers() {
		return softDelete(ctx, tx, id)
	}
	if _, err := tx.ExecContext(ctx, dropMembershipsSQL, id); err != nil {
		return fmt.Errorf("delete memberships of %s: %w", id, err)
	}
	del := `WITH gone AS (DELETE FROM ` + rt.store.table + ` WHERE id = $1 RETURNING 1), ` +
		moveCounter(rt.store.table, "-", "gone") + ` SELECT`
	if _, err := tx.ExecContext(ctx, del, id); err != nil {
		return fmt.Errorf("delete %s %s: %w", rt.Name, id, err)
	}
	return nil
}

// moveCounter returns a WITH item that adds (sign "+") or subtracts ("-")
// the number of rows of the WITH item rows to the counter of table, for a
// statement that adds or removes rows to count them in the same statement.
// A counter moves only when rows is not empty, so that writes that change
// nothing do not lock it.
//
// Schemas not yet at tenant migration 005 still count with triggers, which
// that migration drops together with their function count_rows(): there
// the counter is left to them. (Drop the condition once no supported
// release predates 005.)
func moveCounter(table, sign, rows string) string {
	return `move_` + table + ` AS (UPDATE counters SET value = value ` + sign + ` (SELECT count(*) FROM ` + rows + `)
		WHERE name = '` + table + `' AND EXISTS (SELECT FROM ` + rows + `) AND to_regprocedure('count_rows()') IS NULL)`
}

// The statements that add and remove rows, each moving its counter. Those
// of member rows return how many rows they added or removed.
var (
	createUserSQL = `WITH r AS (INSERT INTO users (id, user_name, external_id, display_name, active, password_hash, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version, created, last_modified), ` +
		moveCounter("users", "+", "r") + ` SELECT version, created, last_modified FROM r`
	createGroupSQL = `WITH r AS (INSERT INTO groups (id, display_name, external_id, data)
		VALUES ($1, $2, $3, $4) RETURNING version, created, last_modified), ` +
		moveCounter("groups", "+", "r") + ` SELECT version, created, last_modified FROM r`
	addMembersSQL = `WITH added AS (INSERT INTO group_members (group_id, member_id, member_type)
		SELECT $1, v, t FROM unnest($2::uuid[], $3::text[]) AS x(v, t)
		ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id), ` +
		moveCounter("group_members", "+", "added") + ` SELECT coalesce(array_agg(member_id::text), '{}') FROM added`
	removeMembersSQL = `WITH gone AS (DELETE FROM group_members WHERE group_id = $1 AND member_id = ANY($2::uuid[]) RETURNING member_id), ` +
		moveCounter("group_members", "-", "gone") + ` SELECT coalesce(array_agg(member_id::text), '{}') FROM gone`
	keepMembersSQL = `WITH gone AS (DELETE FROM group_members WHERE group_id = $1 AND NOT (member_id = ANY($2::uuid[])) RETURNING member_id), ` +
		moveCounter("group_members", "-", "gone") + ` SELECT coalesce(array_agg(member_id::text), '{}') FROM gone`
	// A resource's memberships, and a group's own member rows, which the
	// foreign key would delete too, but uncounted; the groups that held it
	// get a new version.
	dropMembershipsSQL = `WITH gone AS (DELETE FROM group_members WHERE member_id = $1 OR group_id = $1 RETURNING group_id),
		touched AS (UPDATE groups SET version = version + 1, last_modified = now()
			WHERE id IN (SELECT group_id FROM gone) AND id <> $1), ` +
		moveCounter("group_members", "-", "gone") + ` SELECT`
)

// Recount sets every counter to its table's row count, for writes that add
// rows in bulk outside this file: tenant import, test seeds.
const Recount = `UPDATE counters c SET value = n.value
	FROM (VALUES ('users', (SELECT count(*) FROM users)),
		('groups', (SELECT count(*) FROM groups)),
		('group_members', (SELECT count(*) FROM group_members))) AS n (name, value)
	WHERE c.name = n.name`
