package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// Bulk limits (RFC 7644 §3.7.4), advertised in ServiceProviderConfig.
const (
	bulkMaxOperations  = 1000
	bulkMaxPayloadSize = 4 << 20
	bulkRequestSchema  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseSchema = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
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

// bulkResult is one operation of a BulkResponse.
type bulkResult struct {
	Method   string     `json:"method"`
	BulkID   string     `json:"bulkId,omitempty"`
	Version  string     `json:"version,omitempty"`
	Location string     `json:"location,omitempty"`
	Status   string     `json:"status"`
	Response *scimError `json:"response,omitempty"`
}

// bulk: POST /Bulk (RFC 7644 §3.7). Operations run in order, each in a
// transaction of its own, so one failing leaves the others done; an
// operation that refers to a resource created later in the request by
// "bulkId:…" waits until that resource exists. After failOnErrors errors the
// remaining operations are not run.
func (s *Server) bulk(c echo.Context) error {
	p := principalOf(c)
	if !p.Permissions.BulkEnabled {
		return app.Refusef(app.EFORBIDDEN, app.ReasonPermission, "Bulk is turned off for this tenant (bulk_enabled is off)")
	}
	body, err := readJSON(c, bulkMaxPayloadSize)
	if err != nil {
		return err
	}
	ops, failOnErrors, err := parseBulk(body)
	if err != nil {
		return err
	}
	results := s.runBulk(c.Request().Context(), writerOf(c), scimBase(c), ops, failOnErrors)
	return writeSCIM(c, http.StatusOK, map[string]any{"schemas": []string{bulkResponseSchema}, "Operations": results})
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
			n, err := intField(v, "failOnErrors")
			if err != nil || n < 0 {
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
	if len(list) > bulkMaxOperations {
		return nil, 0, app.Errorf(app.ETOOLARGE, "the bulk request has %d operations; maxOperations is %d", len(list), bulkMaxOperations)
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
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return invalid("method must be POST, PUT, PATCH or DELETE")
	}
	if op.Method == http.MethodPost {
		if op.BulkID == "" {
			return invalid("a POST needs a bulkId")
		}
		if bulkIDs[op.BulkID] {
			return invalid("bulkId %q is used twice", op.BulkID)
		}
		bulkIDs[op.BulkID] = true
	}
	if op.Data == nil && op.Method != http.MethodDelete {
		return invalid("%s needs data", op.Method)
	}
	return op
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
func (s *Server) runBulk(ctx context.Context, w writer, base string, ops []bulkOp, failOnErrors int) []bulkResult {
	results := make([]*bulkResult, len(ops))
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
		for _, i := range pending {
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
			res := s.runBulkOp(ctx, w, base, op, refs, created, failedIDs)
			if res.Response != nil {
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
	out := make([]bulkResult, 0, len(ops))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
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

// runBulkOp runs one operation whose references are all resolved or failed.
func (s *Server) runBulkOp(ctx context.Context, w writer, base string, op bulkOp, refs []string, created map[string]string, failed map[string]bool) *bulkResult {
	p := w.p
	w.details = map[string]any{"bulk": true}
	if op.BulkID != "" {
		w.details["bulkId"] = op.BulkID
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
	rt = w.types.Of(rt)
	perm := map[string]string{http.MethodPost: permCreate, http.MethodPut: permUpdate, http.MethodPatch: permUpdate, http.MethodDelete: permDelete}[op.Method]
	if !allowed(p.Permissions, perm) {
		return bulkFailure(op, app.Refusef(app.EFORBIDDEN, app.ReasonPermission, "this tenant is not permitted to %s (%s is off)", permVerb[perm], perm))
	}
	version := ifMatch(op.Version)
	var r *scim.Resource
	status := http.StatusOK
	switch op.Method {
	case http.MethodPost:
		r, err = s.create(ctx, w, rt, data)
		status = http.StatusCreated
		if err == nil {
			created[op.BulkID] = r.ID
		}
	case http.MethodPut:
		r, err = s.replace(ctx, w, rt, id, version, data)
	case http.MethodPatch:
		r, err = s.patch(ctx, w, rt, id, version, data, false)
	case http.MethodDelete:
		err = s.delete(ctx, w, rt, id, version)
		status = http.StatusNoContent
	}
	if err != nil {
		return bulkFailure(op, err)
	}
	res := &bulkResult{Method: op.Method, BulkID: op.BulkID, Status: strconv.Itoa(status)}
	if r != nil {
		res.Location = base + rt.Endpoint + "/" + r.ID
		res.Version = r.ETag()
	} else {
		res.Location = base + rt.Endpoint + "/" + id
	}
	return res
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
	case method == http.MethodPost && len(parts) != 1:
		return nil, "", app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "a POST goes to %s, not %q", rt.Endpoint, path)
	case method != http.MethodPost && (len(parts) != 2 || parts[1] == ""):
		return nil, "", app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "a %s goes to %s/{id}, not %q", method, rt.Endpoint, path)
	}
	if len(parts) == 2 {
		return rt, parts[1], nil
	}
	return rt, "", nil
}

// bulkFailure is the result of an operation that failed with err.
func bulkFailure(op bulkOp, err error) *bulkResult {
	var ae *app.Error
	status, scimType := statusOf[app.ErrorCode(err)], ""
	if errors.As(err, &ae) {
		scimType = ae.ScimType
	}
	return &bulkResult{Method: op.Method, BulkID: op.BulkID, Status: strconv.Itoa(status), Response: &scimError{
		Schemas: []string{scimErrorSchema}, Status: strconv.Itoa(status), ScimType: scimType, Detail: app.ErrorMessage(err),
	}}
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
