package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Bulk limits (RFC 7644 §3.7.4), advertised in ServiceProviderConfig.
const (
	// MaxBulkOperations is the most operations one BulkRequest may hold.
	MaxBulkOperations = 1000
	bulkRequestSchema = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
)

// The methods of Bulk operations.
const (
	MethodPost   = "POST"
	MethodPut    = "PUT"
	MethodPatch  = "PATCH"
	MethodDelete = "DELETE"
)

// bulkOp is one operation of a BulkRequest.
type bulkOp struct {
	Method  string
	BulkID  string
	Version string
	Path    string
	Data    map[string]any
	invalid error // what is wrong with the operation itself; it fails alone
}

// BulkResult is what became of one operation of a BulkRequest.
type BulkResult struct {
	Method string // MethodPost, MethodPut, MethodPatch or MethodDelete, as the request said it
	BulkID string
	// Type and ID name the resource the operation wrote; Resource is that
	// resource as written, nil for a DELETE. All three are unset when the
	// operation failed.
	Type     *scim.ResourceType
	ID       string
	Resource *scim.Resource
	// Err is why the operation failed (an *app.Error, or an internal
	// error); nil when it succeeded.
	Err error
}

// Bulk runs a BulkRequest body (RFC 7644 §3.7) and returns a result for
// each operation it ran, in request order. Operations run in order, in one
// tenant transaction with a savepoint around each (and an audit record of
// its own, marked as Bulk's), so one failing is undone alone and leaves
// the others done, at the cost of one commit instead of one per
// operation; should the transaction itself fail (the database went away,
// it ran past bulkTimeout), nothing is written and Bulk returns that
// error, EUNAVAILABLE, for the client to retry. An operation that refers
// to a resource created later in the request by "bulkId:…" waits until
// that resource exists, and references that cannot be resolved (unknown,
// failed, circular) fail with ECONFLICT. After failOnErrors errors the
// remaining operations are not run. Bulk returns EFORBIDDEN when Bulk is
// off for the tenant, EINVALID for a malformed request and ETOOLARGE for
// more than MaxBulkOperations; what is wrong with one operation fails that
// operation alone.
func (s *Service) Bulk(ctx context.Context, c Caller, body map[string]any) ([]BulkResult, error) {
	if err := Permit(c.Principal.Permissions, BulkEnabled); err != nil {
		return nil, err
	}
	ops, failOnErrors, err := parseBulk(body)
	if err != nil {
		return nil, err
	}
	var results []BulkResult
	scope := c.Principal.Tenant.Scope()
	scope.Timeout = bulkTimeout(len(ops))
	err = s.db.InTenant(ctx, scope, func(tx *sqlx.Tx) (err error) {
		sp := &savepoints{tx: tx}
		// The counter of users and the events' sequence, locked now and
		// written once at the end, not once per operation (scim.Tally,
		// events.Sequence).
		if sp.seq, err = events.LockSequence(ctx, tx, c.Principal.Tenant.ID); err != nil {
			return err
		}
		if rt := c.types(scim.UserResource); scim.OneStatement(rt) && createsUsers(ops) {
			if sp.users, err = scim.LockTally(ctx, tx, rt); err != nil {
				return err
			}
		}
		results = s.runBulk(events.WithSequence(context.WithValue(ctx, tallyKey{}, sp.users), sp.seq), c, sp, ops, failOnErrors)
		if sp.err != nil {
			return sp.err
		}
		if sp.users != nil {
			if err := sp.users.Flush(ctx, tx); err != nil {
				return err
			}
		}
		if sp.seq != nil {
			return sp.seq.Flush(ctx, tx)
		}
		return nil
	})
	committed(c, err)
	if err != nil {
		return nil, err
	}
	return results, nil
}

// createsUsers reports whether ops create Users.
func createsUsers(ops []bulkOp) bool {
	for _, op := range ops {
		if createsUser(op) {
			return true
		}
	}
	return false
}

// createsUser reports whether op is a POST to /Users (see bulkTarget).
func createsUser(op bulkOp) bool {
	rt, _, err := bulkTarget(op.Method, op.Path)
	return op.Method == MethodPost && err == nil && rt == scim.UserResource
}

type tallyKey struct{}

// tallyOf returns the tally of users a Bulk request keeps (see Bulk), nil
// outside one.
func tallyOf(ctx context.Context) *scim.Tally {
	t, _ := ctx.Value(tallyKey{}).(*scim.Tally)
	return t
}

// bulkTimeout bounds the transaction of a Bulk request of n operations,
// in place of the store's statement timeout (10 s by default), which
// bounds one operation's transaction: 1,000 operations take a few seconds
// on a small machine.
func bulkTimeout(n int) time.Duration { return 10*time.Second + time.Duration(n)*20*time.Millisecond }

// savepoints runs each operation of a Bulk request under a savepoint of
// the request's transaction, so that a failed operation is undone alone.
// Between two operations the savepoint is released and set again in one
// statement, which travels with the operation's first statement
// (store.Before): an operation whose work is one statement, such as a
// User create, costs one round trip. Past 64 writing savepoints a
// transaction's subtransactions overflow PostgreSQL's per-backend cache,
// and other backends' snapshots look them up in pg_subtrans while it runs:
// a cost to neighbours for the seconds a large Bulk takes.
type savepoints struct {
	tx    *sqlx.Tx
	set   bool  // the savepoint holds nothing yet: the next operation needs no new one
	after bool  // an operation succeeded since it was set: release it first
	err   error // the transaction failed: every later operation fails with it
	// users and seq count users and number events in the request's
	// transaction (nil when it does not); an operation rolled back to its
	// savepoint takes back what it counted.
	users *scim.Tally
	seq   *events.Sequence
}

// run runs fn under a savepoint, and rolls back to it when fn fails. fn
// runs its statements with the ctx it is given, whose first statement
// sets the savepoint.
func (sp *savepoints) run(ctx context.Context, fn func(ctx context.Context) error) error {
	if sp.err != nil {
		return sp.err
	}
	var p *store.Pending
	if !sp.set {
		p = &store.Pending{SQL: `SAVEPOINT bulk_op`}
		if sp.after {
			p.SQL = `RELEASE SAVEPOINT bulk_op; SAVEPOINT bulk_op`
		}
		ctx = store.Before(ctx, p)
	}
	var added, last int64
	if sp.users != nil {
		added = sp.users.Added()
	}
	if sp.seq != nil {
		last = sp.seq.Last()
	}
	err := fn(ctx)
	if err != nil && sp.users != nil {
		sp.users.SetAdded(added)
	}
	if err != nil && sp.seq != nil {
		sp.seq.SetLast(last)
	}
	if p != nil && p.Sent {
		sp.set = true
	}
	if err != nil {
		if sp.set {
			if _, rerr := sp.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT bulk_op`); rerr != nil {
				sp.err = fmt.Errorf("bulk savepoint: %w", store.Unavailable(rerr))
			}
		}
		return store.Unavailable(err) // as InTenant returns it for a write alone
	}
	if sp.set {
		sp.set, sp.after = false, true
	}
	return nil
}

// parseBulk checks a BulkRequest and returns its operations.
func parseBulk(body map[string]any) ([]bulkOp, int, error) {
	invalid := func(format string, args ...any) error {
		return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, format, args...)
	}
	var schemas, rawOps any
	failOnErrors := 0
	for k, v := range body {
		switch strings.ToLower(k) {
		case "schemas":
			schemas = v
		case "operations":
			rawOps = v
		case "failonerrors":
			n, ok := nonNegative(v)
			if !ok {
				return nil, 0, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "failOnErrors must be a non-negative integer")
			}
			failOnErrors = n
		}
	}
	if list, _ := schemas.([]any); !containsString(list, bulkRequestSchema) {
		return nil, 0, invalid("schemas must contain %s", bulkRequestSchema)
	}
	list, ok := rawOps.([]any)
	if !ok {
		return nil, 0, invalid("Operations must be an array")
	}
	if len(list) > MaxBulkOperations {
		return nil, 0, app.Errorf(app.ETOOLARGE, "the bulk request has %d operations; maxOperations is %d", len(list), MaxBulkOperations)
	}
	ops := make([]bulkOp, len(list))
	bulkIDs := map[string]bool{}
	for i, e := range list {
		ops[i] = parseBulkOp(e, bulkIDs)
	}
	return ops, failOnErrors, nil
}

// parseBulkOp reads one operation. What is wrong with it is kept in
// invalid, so that it fails alone and the others still run.
func parseBulkOp(e any, bulkIDs map[string]bool) bulkOp {
	var op bulkOp
	invalid := func(format string, args ...any) bulkOp {
		op.invalid = app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, format, args...)
		return op
	}
	m, ok := e.(map[string]any)
	if !ok {
		return invalid("an operation must be an object")
	}
	for k, v := range m {
		s, _ := v.(string)
		switch strings.ToLower(k) {
		case "method":
			op.Method = strings.ToUpper(s)
		case "bulkid":
			op.BulkID = s
		case "version":
			op.Version = s
		case "path":
			op.Path = s
		case "data":
			if v != nil {
				if op.Data, ok = v.(map[string]any); !ok {
					return invalid("data must be an object")
				}
			}
		}
	}
	switch op.Method {
	case MethodPost, MethodPut, MethodPatch, MethodDelete:
	default:
		return invalid("method must be POST, PUT, PATCH or DELETE")
	}
	if op.Method == MethodPost {
		if op.BulkID == "" {
			return invalid("a POST needs a bulkId")
		}
		if bulkIDs[op.BulkID] {
			return invalid("bulkId %q is used twice", op.BulkID)
		}
		bulkIDs[op.BulkID] = true
	}
	if op.Data == nil && op.Method != MethodDelete {
		return invalid("%s needs data", op.Method)
	}
	return op
}

// nonNegative reads a JSON integer (a json.Number, as Decoder.UseNumber
// leaves it) that must not be negative. One beyond an int64, whichever its
// sign, counts as no limit, as integers in a list's query string do.
func nonNegative(v any) (int, bool) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	s := strings.TrimSpace(num.String())
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(s, "-") {
			return 0, true
		}
		return math.MaxInt32, true
	}
	return int(n), err == nil && n >= 0
}

func containsString(list []any, s string) bool {
	for _, e := range list {
		if v, _ := e.(string); strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// runBulk runs the operations, resolving bulkId references, and returns a
// result for each operation it ran, in request order.
func (s *Service) runBulk(ctx context.Context, c Caller, sp *savepoints, ops []bulkOp, failOnErrors int) []BulkResult {
	results := make([]*BulkResult, len(ops))
	created := map[string]string{} // bulkId → id
	failedIDs := map[string]bool{} // bulkIds whose POST failed
	errs := 0
	pending := make([]int, len(ops))
	for i := range pending {
		pending[i] = i
	}
	// Each pass runs the operations whose references are resolved; a pass
	// that resolves nothing ends the loop, and what is left is circular or
	// refers to a failed or unknown bulkId.
	for len(pending) > 0 && (failOnErrors == 0 || errs < failOnErrors) {
		var next []int
		alone := 0 // the operations before pending[alone] run one by one
		for k := 0; k < len(pending); k++ {
			i := pending[k]
			if failOnErrors > 0 && errs >= failOnErrors {
				break
			}
			op := ops[i]
			if op.invalid != nil {
				results[i] = bulkFailure(op, op.invalid)
				errs++
				continue
			}
			refs := bulkRefs(op)
			if waiting(refs, created, failedIDs) {
				next = append(next, i)
				continue
			}
			if k >= alone && sp.users != nil {
				if run := usersRun(ops, pending[k:]); len(run) > 1 {
					if users(ctx, c, sp, ops, run, results, created, failedIDs, &errs, failOnErrors) {
						k += len(run) - 1
						continue
					}
					alone = k + len(run)
				}
			}
			res := runBulkOp(ctx, c, sp, op, refs, created, failedIDs)
			if res.Err != nil {
				errs++
				if op.BulkID != "" {
					failedIDs[op.BulkID] = true
				}
			}
			results[i] = res
		}
		if len(next) == len(pending) {
			for _, i := range next {
				results[i] = bulkFailure(ops[i], app.ScimErrorf(app.ECONFLICT, app.ScimInvalidValue,
					"the operation refers to a bulkId that no operation of the request creates, or the references are circular"))
				if failOnErrors > 0 {
					if errs++; errs >= failOnErrors {
						break
					}
				}
			}
			break
		}
		pending = next
	}
	out := make([]BulkResult, 0, len(ops))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// usersRun returns the operations of a run of User creations, which
// users may create in one statement: consecutive operations of pending,
// from its first, that create a User and refer to no bulkId.
func usersRun(ops []bulkOp, pending []int) []int {
	var run []int
	for _, i := range pending {
		op := ops[i]
		if op.invalid != nil || !createsUser(op) || len(bulkRefs(op)) > 0 {
			break
		}
		run = append(run, i)
	}
	return run
}

// errUndo undoes a run of User creations that cannot keep what running
// its operations one by one would do.
var errUndo = errors.New("bulk: a run of creations undone, to run one by one")

// users runs a run of User creations (usersRun) as the operations one by
// one would, but in one statement (scim.CreateUsers) under one savepoint:
// each operation's checks, then the users that pass created together,
// with their audit records and events, numbered in request order. A user
// the statement skipped (its userName taken, by a stored user or an
// earlier one of the run, or past the quota) is then created alone, which
// fails with its own error as it would have in its turn. Where that
// cannot give the same results (failOnErrors would be reached inside the
// run) or the statement failed, the run is undone and users returns false:
// its operations are then to run one by one. It sets the results of the
// run's operations, and counts their errors in errs.
func users(ctx context.Context, c Caller, sp *savepoints, ops []bulkOp, run []int, results []*BulkResult, created map[string]string, failed map[string]bool, errs *int, failOnErrors int) bool {
	if err := Permit(c.Principal.Permissions, CanCreate); err != nil {
		return false
	}
	rt := c.types(scim.UserResource)
	if !scim.OneStatement(rt) {
		return false
	}
	failures := make(map[int]error)
	var us []*scim.NewUser
	var at []int
	var details []map[string]any
	for _, i := range run {
		attrs, err := rt.Normalize(ops[i].Data)
		var u *scim.NewUser
		if err == nil {
			u, err = scim.PrepareUser(rt, attrs)
		}
		if err != nil {
			failures[i] = err
			continue
		}
		us, at = append(us, u), append(at, i)
		details = append(details, map[string]any{"bulk": true, "bulkId": ops[i].BulkID})
	}
	if len(us) < 2 || failOnErrors > 0 && *errs+len(failures) >= failOnErrors {
		return false
	}
	var done []bool
	err := sp.run(ctx, func(ctx context.Context) (err error) {
		if done, err = c.createUsers(ctx, sp.tx, rt, us, details); err != nil {
			return err
		}
		skipped := 0
		for _, ok := range done {
			if !ok {
				skipped++
			}
		}
		if failOnErrors > 0 && *errs+len(failures)+skipped >= failOnErrors {
			return errUndo
		}
		return nil
	})
	if err != nil {
		return false
	}
	made := make(map[int]*scim.Resource, len(at))
	for k, i := range at {
		if done[k] {
			made[i] = us[k].R
		}
	}
	for _, i := range run {
		op := ops[i]
		var res *BulkResult
		switch r := made[i]; {
		case failures[i] != nil:
			res = bulkFailure(op, failures[i])
		case r != nil:
			created[op.BulkID] = r.ID
			res = &BulkResult{Method: op.Method, BulkID: op.BulkID, Type: scim.UserResource, ID: r.ID, Resource: r}
		default: // skipped: alone, it fails with its own error
			res = runBulkOp(ctx, c, sp, op, nil, created, failed)
		}
		if res.Err != nil {
			*errs++
			failed[op.BulkID] = true
		}
		results[i] = res
	}
	return true
}

// waiting reports whether one of refs names a resource not created yet by
// an operation that has not failed.
func waiting(refs []string, created map[string]string, failed map[string]bool) bool {
	for _, r := range refs {
		if _, ok := created[r]; !ok && !failed[r] {
			return true
		}
	}
	return false
}

// runBulkOp runs one operation whose references are all resolved or
// failed: the checks of the service's method that does it alone, then its
// work under a savepoint of the request's transaction.
func runBulkOp(ctx context.Context, c Caller, sp *savepoints, op bulkOp, refs []string, created map[string]string, failed map[string]bool) *BulkResult {
	c.details = map[string]any{"bulk": true}
	if op.BulkID != "" {
		c.details["bulkId"] = op.BulkID
	}
	for _, r := range refs {
		if failed[r] {
			return bulkFailure(op, app.ScimErrorf(app.ECONFLICT, app.ScimInvalidValue, "the operation refers to bulkId %q, whose operation failed", r))
		}
	}
	path := replaceBulkRefs(op.Path, created).(string)
	data, _ := replaceBulkRefs(op.Data, created).(map[string]any)
	rt, id, err := bulkTarget(op.Method, path)
	if err != nil {
		return bulkFailure(op, err)
	}
	version := scim.IfMatchVersion(op.Version)
	var w work
	switch op.Method {
	case MethodPost:
		w, err = c.create(rt, data)
	case MethodPut:
		w, err = c.replace(rt, id, version, data)
	case MethodPatch:
		w, err = c.patch(rt, id, version, data, false)
	case MethodDelete:
		w, err = c.delete(rt, id, version)
	}
	var r *scim.Resource
	if err == nil {
		err = sp.run(ctx, func(ctx context.Context) (err error) {
			r, err = w(ctx, sp.tx)
			return err
		})
	}
	if err == nil && op.Method == MethodPost {
		created[op.BulkID] = r.ID
		id = r.ID
	}
	if err != nil {
		return bulkFailure(op, err)
	}
	return &BulkResult{Method: op.Method, BulkID: op.BulkID, Type: rt, ID: id, Resource: r}
}

// bulkTarget parses an operation's path: "/Users" for POST, "/Users/{id}"
// for the others.
func bulkTarget(method, path string) (*scim.ResourceType, string, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rt *scim.ResourceType
	for _, t := range []*scim.ResourceType{scim.UserResource, scim.GroupResource} {
		if strings.EqualFold("/"+parts[0], t.Endpoint) {
			rt = t
		}
	}
	switch {
	case rt == nil:
		return nil, "", app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "path %q names no resource type: use /Users or /Groups", path)
	case method == MethodPost && len(parts) != 1:
		return nil, "", app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "a POST goes to %s, not %q", rt.Endpoint, path)
	case method != MethodPost && (len(parts) != 2 || parts[1] == ""):
		return nil, "", app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "a %s goes to %s/{id}, not %q", method, rt.Endpoint, path)
	}
	if len(parts) == 2 {
		return rt, parts[1], nil
	}
	return rt, "", nil
}

// bulkFailure is the result of an operation that failed with err.
func bulkFailure(op bulkOp, err error) *BulkResult {
	return &BulkResult{Method: op.Method, BulkID: op.BulkID, Err: err}
}

// bulkRefs returns the bulkIds an operation refers to ("bulkId:x" in its
// path or anywhere in its data).
func bulkRefs(op bulkOp) []string {
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if i := strings.Index(v, "bulkId:"); i >= 0 {
				refs = append(refs, strings.SplitN(v[i+len("bulkId:"):], "/", 2)[0])
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(op.Path)
	walk(map[string]any(op.Data))
	return refs
}

// replaceBulkRefs returns v with every "bulkId:x" replaced by the id of the
// resource created for x.
func replaceBulkRefs(v any, created map[string]string) any {
	switch v := v.(type) {
	case string:
		i := strings.Index(v, "bulkId:")
		if i < 0 {
			return v
		}
		ref, rest, _ := strings.Cut(v[i+len("bulkId:"):], "/")
		id, ok := created[ref]
		if !ok {
			return v
		}
		if rest != "" || strings.HasSuffix(v, "/") {
			rest = "/" + rest
		}
		return v[:i] + id + rest
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = replaceBulkRefs(e, created)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = replaceBulkRefs(e, created)
		}
		return out
	}
	return v
}
