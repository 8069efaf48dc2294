package scim

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/google/uuid"
	"github.com/scim2/filter-parser/v2"
)

// PatchOpSchemaURN is the schema of a PATCH request body (RFC 7644 §3.5.2).
const PatchOpSchemaURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// MaxPatchOperations is the most operations one PATCH request may hold.
// Identity providers send a handful; Okta and Entra ID batch group
// membership changes, which stay well below this.
const MaxPatchOperations = 1000

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2): Op is
// "add", "remove" or "replace" in lower case, Path the target ("" for the
// resource itself), Value the decoded JSON value (nil when absent).
type PatchOp struct {
	Op    string
	Path  string
	Value any
}

// ParsePatch checks body, the decoded JSON object of a PATCH request, and
// returns its operations in order. Key names and op values are matched
// case-insensitively: Microsoft Entra ID sends "Add", "Replace", "Remove".
//
// It returns an *app.Error with code EINVALID and SCIM type invalidSyntax
// when "schemas" lacks PatchOpSchemaURN, when "Operations" is missing, not an
// array or empty, or when an operation is not an object or has an op other
// than add, remove or replace; invalidPath when a path is not a string;
// noTarget for a remove without path (RFC 7644 §3.5.2.2); invalidValue for an
// add without a value or a replace without "value". It returns ETOOLARGE when
// there are more than MaxPatchOperations operations.
//
// A missing PatchOp schema is invalidSyntax, where Normalize calls a missing
// resource schema invalidValue: a PatchOp is a request message, not a
// resource, and a message that does not follow its schema is what RFC 7644
// §3.12 calls invalidSyntax.
func ParsePatch(body map[string]any) ([]PatchOp, error) {
	var schemas, operations any
	for k, v := range body {
		switch strings.ToLower(k) {
		case "schemas":
			schemas = v
		case "operations":
			operations = v
		}
	}
	if !containsFold(schemas, PatchOpSchemaURN) {
		return nil, invalidSyntax("\"schemas\" must contain %q", PatchOpSchemaURN)
	}
	list, ok := operations.([]any)
	if !ok || len(list) == 0 {
		return nil, invalidSyntax("\"Operations\" must be an array of one or more operations")
	}
	// RFC 7644 sets no limit for PATCH. Its limit for Bulk (§3.7.3) answers
	// 413, and tooMany is about filters that match too much, so a request
	// with too many operations is "payload too large" here as well.
	if len(list) > MaxPatchOperations {
		return nil, app.Errorf(app.ETOOLARGE, "a PATCH request may hold at most %d operations, not %d", MaxPatchOperations, len(list))
	}
	ops := make([]PatchOp, len(list))
	for i, raw := range list {
		op, err := parseOp(raw)
		if err != nil {
			return nil, atOp(i, err)
		}
		ops[i] = op
	}
	return ops, nil
}

// parseOp checks one element of "Operations".
func parseOp(raw any) (PatchOp, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return PatchOp{}, invalidSyntax("an operation must be an object")
	}
	var op PatchOp
	var opName, path any
	hasValue := false
	for k, v := range obj {
		switch strings.ToLower(k) {
		case "op":
			opName = v
		case "path":
			path = v
		case "value":
			op.Value, hasValue = v, true
		}
	}
	name, _ := opName.(string)
	op.Op = strings.ToLower(name)
	if op.Op != "add" && op.Op != "remove" && op.Op != "replace" {
		return PatchOp{}, invalidSyntax("\"op\" must be \"add\", \"remove\" or \"replace\"")
	}
	if path != nil {
		if op.Path, ok = path.(string); !ok {
			return PatchOp{}, app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, "\"path\" must be a string")
		}
	}
	switch {
	case op.Op == "remove" && op.Path == "":
		return PatchOp{}, app.ScimErrorf(app.EINVALID, app.ScimNoTarget, "remove needs a \"path\"")
	case op.Op == "add" && op.Value == nil, op.Op == "replace" && !hasValue:
		return PatchOp{}, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%s needs a \"value\"", op.Op)
	}
	return op, nil
}

// MemberChanges says how the member rows of a Group change after a PATCH,
// in as many ids as the request names, whatever the size of the group. When
// ReplaceAll is set the members become exactly Add (none when Add is empty)
// and Remove is empty; otherwise the ids in Remove lose their row and those
// in Add gain one if they lack it. Ids are UUIDs in canonical form, each at
// most once, and Add and Remove never share one. Whether each id names a
// User or Group of the tenant is for the store to check.
type MemberChanges struct {
	ReplaceAll bool
	Add        []string
	Remove     []string
}

// ApplyPatch applies ops in order to data, the stored attributes of a
// resource of rt as Normalize returned them, and returns the new attributes,
// again as Normalize returns them, with, for a Group, how its members change.
// data is not modified. Members never appear in the attributes: every
// operation on "members" becomes part of the MemberChanges. A password an
// operation sets is in the result under "password"; take it out with
// TakePassword.
//
// It follows RFC 7644 §3.5.2. Where the RFC is silent or identity providers
// do otherwise, Bulkhead does this:
//   - an add to a value-filter path that matches nothing, such as
//     emails[type eq "work"].value (Entra ID sends that for a new work
//     email), creates the element from the filter's eq terms;
//   - a remove whose filter matches nothing succeeds without change: the
//     state the client asked for holds already, and identity providers retry
//     removes of values that are gone (a member they removed before);
//   - a remove of a multi-valued attribute with a "value" removes the
//     elements that match it, as Entra ID does for members;
//   - in an add or replace without path, readOnly and unknown attributes
//     are ignored, as Normalize ignores them (Okta sends the group's id);
//   - a single object given for a multi-valued attribute is one element, and
//     a string given for a complex attribute with a "value" sub-attribute
//     (a manager's id) is that value.
//
// ApplyPatch returns an *app.Error with code EINVALID and SCIM type
// invalidPath for a path that is malformed, names no attribute, or names a
// sub-attribute of a multi-valued attribute without a filter; mutability for
// a path to a readOnly attribute (id, meta, groups, schemas), for a change of
// an immutable value once set, and for any change of a member other than
// adding or removing it; noTarget for a replace whose filter matches nothing
// and an add whose filter matches nothing and cannot build an element;
// invalidFilter for a filter it cannot evaluate (on members, anything but
// value eq "id" joined by or); invalidValue for a value of the wrong type, a
// member id that is not a UUID, and a result Normalize refuses (a required
// attribute removed, two primary values).
func (rt *ResourceType) ApplyPatch(data map[string]any, ops []PatchOp) (map[string]any, MemberChanges, error) {
	doc, _ := deepCopy(data).(map[string]any)
	if doc == nil {
		doc = make(map[string]any)
	}
	p := &patcher{rt: rt, doc: doc, add: map[string]bool{}, remove: map[string]bool{}}
	if rt.Is(GroupResource) {
		delete(p.doc, "members")
	}
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			return nil, MemberChanges{}, atOp(i, err)
		}
	}
	p.doc["schemas"] = []any{rt.core.ID}
	out, err := rt.normalize(p.doc)
	if err != nil {
		return nil, MemberChanges{}, err
	}
	return out, p.changes(), nil
}

// keeps reports whether attrs, the attributes ApplyPatch returned for data
// (with setDefaults applied), are those data holds already: the operations
// changed nothing, and RFC 7644 §3.5.2.1 wants no change made ("no changes
// SHOULD be made to the resource"). data is compared as ApplyPatch would
// return it without operations, so that what Normalize drops (the values of
// an extension no longer served) does not count. A password given is a
// change: only its hash is kept, and comparing costs a bcrypt round.
func (rt *ResourceType) keeps(data, attrs map[string]any) bool {
	if _, ok := attrs["password"]; ok {
		return false
	}
	before, _, err := rt.ApplyPatch(data, nil)
	if err != nil {
		return false
	}
	setDefaults(rt, before)
	return sameJSON(before, attrs)
}

// sameJSON reports whether two decoded JSON values are equal, numbers
// compared by value: those of a request are json.Number, those read back
// from the store float64.
func sameJSON(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !sameJSON(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if xf, ok := toFloat(x); ok {
		yf, ok := toFloat(y)
		return ok && xf == yf
	}
	return x == y
}

// patcher holds the resource while operations apply to it.
type patcher struct {
	rt  *ResourceType
	doc map[string]any

	// Member changes so far: add and remove hold the ids currently to be
	// added and removed; addOrder and removeOrder keep the order in which
	// ids were mentioned, so that the result does not depend on map order.
	replaceAll            bool
	add, remove           map[string]bool
	addOrder, removeOrder []string
}

// patchTarget is a resolved PATCH path.
type patchTarget struct {
	schema *Schema
	attr   *Attribute        // nil when the path is a schema URN alone
	filter filter.Expression // the value filter of attr[filter], or nil
	sub    *Attribute        // the sub-attribute, or nil
}

// name returns the canonical spelling of t for messages.
func (t patchTarget) name() string {
	return AttrPath{Schema: t.schema, Attr: t.attr, Sub: t.sub}.String()
}

// apply applies one operation: it resolves the path and checks that the
// target may be written before changing anything.
func (p *patcher) apply(op PatchOp) error {
	switch op.Op {
	case "add", "replace", "remove":
	default:
		return invalidSyntax("\"op\" must be \"add\", \"remove\" or \"replace\"")
	}
	if op.Path == "" {
		if op.Op == "remove" {
			return app.ScimErrorf(app.EINVALID, app.ScimNoTarget, "remove needs a \"path\"")
		}
		return p.applyObject(op.Op, nil, op.Value, map[string]bool{})
	}
	t, err := p.resolve(op.Path)
	if err != nil {
		return err
	}
	if t.attr == nil {
		if t.schema == p.rt.core {
			if op.Op == "remove" {
				return invalidPath("remove cannot take the whole resource: name an attribute")
			}
			return p.applyObject(op.Op, nil, op.Value, map[string]bool{})
		}
		if op.Op == "remove" {
			delete(p.doc, t.schema.ID)
			return nil
		}
		return p.applyObject(op.Op, t.schema, op.Value, map[string]bool{})
	}
	if p.isMembers(t.attr) {
		return p.members(op, t)
	}
	switch {
	case t.attr == schemasAttribute:
		return mutability("\"schemas\" follows the attributes present and cannot be patched")
	case t.attr.Mutability == ReadOnly || (t.sub != nil && t.sub.Mutability == ReadOnly):
		return mutability("attribute %q is readOnly", t.name())
	case t.attr.Returned == ReturnedNever && op.Op == "remove":
		return mutability("attribute %q can be replaced but not removed", t.name())
	case t.filter != nil && (!t.attr.MultiValued || t.attr.Type != TypeComplex):
		return invalidPath("attribute %q takes no [filter]", t.name())
	case t.filter == nil && t.sub != nil && t.attr.MultiValued:
		return invalidPath("name which values of %q to change with a filter, such as %s[type eq \"work\"].%s",
			t.attr.Name, t.attr.Name, t.sub.Name)
	case t.filter != nil:
		// Check the filter once, so that a bad one fails even when the
		// attribute has no values to test it on.
		if _, err := p.matches(t, t.filter, map[string]any{}); err != nil {
			return err
		}
	}
	return p.applyTarget(op.Op, t, op.Value)
}

// applyTarget applies op to t, an attribute that may be written.
func (p *patcher) applyTarget(op string, t patchTarget, v any) error {
	if p.isMembers(t.attr) {
		return p.members(PatchOp{Op: op, Value: v}, t)
	}
	switch {
	case op == "remove":
		return p.removeValue(t, v)
	case t.filter != nil:
		return p.setFiltered(op, t, v)
	default:
		return p.set(op, t, v)
	}
}

// applyObject applies an add or replace without path (or with a schema URN
// as path, scope): value is an object of attributes. seen catches one
// attribute given twice, under two spellings.
func (p *patcher) applyObject(op string, scope *Schema, value any, seen map[string]bool) error {
	obj, ok := value.(map[string]any)
	if !ok {
		if value == nil && scope != nil {
			if op == "replace" {
				delete(p.doc, scope.ID) // null unassigns the whole extension
			}
			return nil
		}
		return invalidValue("the value of %s without a path must be an object of attributes", op)
	}
	for key, v := range obj {
		s, name := scope, key
		if scope == nil {
			if strings.EqualFold(key, "schemas") {
				continue
			}
			if ext := p.rt.schemaByURN(key); ext != nil && ext != p.rt.core {
				if err := p.applyObject(op, ext, v, seen); err != nil {
					return err
				}
				continue
			}
			s, name = p.rt.splitURN(key)
			if strings.Contains(name, ".") {
				// Entra ID writes sub-attributes as dotted keys
				// ("name.givenName"): each is an operation with that path.
				if err := p.apply(PatchOp{Op: op, Path: key, Value: v}); err != nil {
					return err
				}
				continue
			}
		}
		a := findAttr(p.rt.attrsOf(s), name)
		if a == nil || a == schemasAttribute || a.Mutability == ReadOnly {
			continue // ignored, as Normalize ignores them
		}
		t := patchTarget{schema: s, attr: a}
		k := strings.ToLower(s.ID + ":" + a.Name)
		if seen[k] {
			return invalidValue("attribute %q is given more than once", t.name())
		}
		seen[k] = true
		if err := p.applyTarget(op, t, v); err != nil {
			return err
		}
	}
	return nil
}

// resolve parses and resolves a PATCH path (RFC 7644 §3.5.2, "PATH"):
// attrPath, or attrPath[valFilter] optionally followed by .subAttr.
//
// The filter in brackets is parsed as a filter of its own: the parser's
// grammar for bracketed filters takes at most two terms and no parentheses,
// and members[value eq "a" or value eq "b" or value eq "c"] must work.
func (p *patcher) resolve(path string) (patchTarget, error) {
	if s := p.rt.schemaByURN(path); s != nil {
		return patchTarget{schema: s}, nil
	}
	malformed := invalidPath("invalid path %q", truncate(path))
	if len(path) > MaxFilterLength || filterDepth(path) > MaxFilterDepth {
		return patchTarget{}, malformed
	}
	attrPart, valFilter, subName := path, "", ""
	if i := strings.IndexByte(path, '['); i >= 0 {
		j := strings.LastIndexByte(path, ']')
		if j < i {
			return patchTarget{}, malformed
		}
		attrPart, valFilter, subName = path[:i], path[i+1:j], path[j+1:]
		if subName != "" && (len(subName) < 2 || subName[0] != '.') {
			return patchTarget{}, malformed
		}
		subName = strings.TrimPrefix(subName, ".")
	}
	ap, err := parseAttrPath(attrPart)
	if err != nil || (valFilter != "" && ap.SubAttribute != nil) {
		return patchTarget{}, malformed
	}
	if ap.SubAttribute != nil {
		subName = *ap.SubAttribute
	}
	resolved, ok := p.rt.resolve(filter.AttributePath{URIPrefix: ap.URIPrefix, AttributeName: ap.AttributeName})
	if !ok {
		return patchTarget{}, invalidPath("unknown attribute %q", truncate(path))
	}
	t := patchTarget{schema: resolved.Schema, attr: resolved.Attr}
	if valFilter != "" || strings.Contains(path, "[") {
		if t.filter, err = parseFilter(valFilter); err != nil {
			return patchTarget{}, malformed
		}
	}
	if subName != "" {
		if t.sub = t.attr.Sub(subName); t.sub == nil {
			return patchTarget{}, invalidPath("unknown attribute %q", truncate(path))
		}
	}
	return t, nil
}

// container returns the object holding the attributes of schema s: the
// resource itself, or its extension object, created when create is set.
func (p *patcher) container(s *Schema, create bool) map[string]any {
	if s == p.rt.core {
		return p.doc
	}
	ext, ok := p.doc[s.ID].(map[string]any)
	if !ok && create {
		ext = make(map[string]any)
		p.doc[s.ID] = ext
	}
	return ext
}

// set applies an add or replace without filter. They differ only for a
// multi-valued attribute, where add appends and replace replaces the list.
// For a complex attribute both set the sub-attributes given and leave the
// others (RFC 7644 §3.5.2.3).
func (p *patcher) set(op string, t patchTarget, v any) error {
	obj := p.container(t.schema, true)
	a := t.attr
	switch {
	case t.sub != nil:
		parent, _ := obj[a.Name].(map[string]any)
		if parent == nil {
			parent = make(map[string]any)
		}
		if err := setSub(t, parent, v); err != nil {
			return err
		}
		obj[a.Name] = parent
	case a.MultiValued && op == "add":
		nv, err := normAttr(t, v)
		if err != nil {
			return err
		}
		list, _ := obj[a.Name].([]any)
		var touched []int
		for _, e := range asList(nv) {
			i := indexOfSame(a, list, e)
			if i < 0 {
				list = append(list, e)
				i = len(list) - 1
			} else if m, ok := list[i].(map[string]any); ok {
				em, _ := e.(map[string]any)
				for k, sv := range em {
					m[k] = sv
				}
			}
			touched = append(touched, i)
		}
		onePrimary(list, touched)
		if list != nil {
			obj[a.Name] = list
		}
	case a.Type == TypeComplex && !a.MultiValued:
		if v == nil && op == "replace" {
			if err := checkImmutable(t, a, obj[a.Name], nil); err != nil {
				return err
			}
			delete(obj, a.Name)
			return nil
		}
		nv, err := normAttr(t, v)
		if err != nil || nv == nil {
			return err // {} gives no sub-attribute, so changes none
		}
		cur, _ := obj[a.Name].(map[string]any)
		if cur == nil {
			cur = make(map[string]any)
		}
		for k, sv := range nv.(map[string]any) {
			if err := checkImmutable(t, a.Sub(k), cur[k], sv); err != nil {
				return err
			}
			cur[k] = sv
		}
		obj[a.Name] = cur
	default:
		nv, err := normAttr(t, v)
		if err != nil {
			return err
		}
		if nv == nil && op == "add" {
			return nil
		}
		if err := checkImmutable(t, a, obj[a.Name], nv); err != nil {
			return err
		}
		if nv == nil {
			delete(obj, a.Name)
		} else {
			obj[a.Name] = nv
		}
	}
	return nil
}

// setFiltered applies an add or replace to the values of a multi-valued
// attribute its filter matches, or to their sub-attribute t.sub.
func (p *patcher) setFiltered(op string, t patchTarget, v any) error {
	obj := p.container(t.schema, true)
	list, _ := obj[t.attr.Name].([]any)
	var matched []int
	for i, e := range list {
		m, _ := e.(map[string]any)
		ok, err := p.matches(t, t.filter, m)
		if err != nil {
			return err
		}
		if ok {
			matched = append(matched, i)
		}
	}
	if len(matched) == 0 && op == "replace" && p.rt.rules.ReplaceNoTarget {
		return noTarget("no value of %q matches the filter of this replace (RFC 7644 §3.5.2.3)", t.attr.Name)
	}
	if len(matched) == 0 {
		// Entra ID sets a user's first work email with an add or a replace
		// of emails[type eq "work"].value, and expects it created: the
		// element is built from the filter's eq terms. Only a filter that
		// cannot build one is noTarget (RFC 7644 §3.5.2.3 asks noTarget for
		// every replace that matches nothing; Bulkhead follows the IdP).
		el, err := elementFromFilter(t, t.filter, map[string]any{})
		if err != nil {
			return err
		}
		list = append(list, el)
		matched = []int{len(list) - 1}
		op = "add" // the new element keeps what the filter says of it
	}
	for _, i := range matched {
		el, _ := list[i].(map[string]any)
		if el == nil {
			el = make(map[string]any)
		}
		if t.sub != nil {
			if err := setSub(t, el, v); err != nil {
				return err
			}
			list[i] = el
			continue
		}
		nv, err := normSingle(t.schema, t.name(), t.attr, oneObject(v))
		if err != nil {
			return err
		}
		m, _ := nv.(map[string]any)
		for _, sub := range t.attr.SubAttributes {
			given, ok := m[sub.Name]
			if op == "add" && !ok {
				continue // add leaves alone what it does not give
			}
			if err := checkImmutable(t, sub, el[sub.Name], given); err != nil {
				return err
			}
		}
		if op == "replace" {
			list[i] = nil // replaced whole; replaced by nothing, dropped below
			if m != nil {
				list[i] = m
			}
			continue
		}
		for k, sv := range m {
			el[k] = sv
		}
		list[i] = el
	}
	onePrimary(list, matched)
	obj[t.attr.Name] = compact(list)
	return nil
}

// setSub sets sub-attribute t.sub of el to v, or unassigns it for null or
// "".
func setSub(t patchTarget, el map[string]any, v any) error {
	if v == "" {
		v = nil
	}
	nv, err := normSingle(t.schema, t.name(), t.sub, v)
	if err != nil {
		return err
	}
	if err := checkImmutable(t, t.sub, el[t.sub.Name], nv); err != nil {
		return err
	}
	if nv == nil {
		delete(el, t.sub.Name)
	} else {
		el[t.sub.Name] = nv
	}
	return nil
}

// removeValue applies a remove to t (RFC 7644 §3.5.2.2).
func (p *patcher) removeValue(t patchTarget, v any) error {
	obj := p.container(t.schema, false)
	if obj == nil {
		return nil
	}
	a := t.attr
	switch {
	case t.filter != nil:
		list, _ := obj[a.Name].([]any)
		var keep []any
		for _, e := range list {
			m, _ := e.(map[string]any)
			ok, err := p.matches(t, t.filter, m)
			if err != nil {
				return err
			}
			if !ok {
				keep = append(keep, e)
				continue
			}
			if t.sub != nil {
				if err := checkImmutable(t, t.sub, m[t.sub.Name], nil); err != nil {
					return err
				}
				delete(m, t.sub.Name)
				if len(m) > 0 {
					keep = append(keep, m)
				}
			}
		}
		// A filter that matched nothing leaves the list as it was: see
		// ApplyPatch for why that is no error.
		obj[a.Name] = keep
	case t.sub != nil:
		parent, _ := obj[a.Name].(map[string]any)
		if err := checkImmutable(t, t.sub, parent[t.sub.Name], nil); err != nil {
			return err
		}
		delete(parent, t.sub.Name)
	case a.MultiValued && v != nil:
		// Entra ID removes members by listing them in "value"; the same
		// works for any multi-valued attribute: drop the values that match
		// one of those given.
		nv, err := normAttr(t, v)
		if err != nil {
			return err
		}
		list, _ := obj[a.Name].([]any)
		var keep []any
		for _, e := range list {
			gone := false
			for _, r := range asList(nv) {
				gone = gone || containsValue(a, e, r)
			}
			if !gone {
				keep = append(keep, e)
			}
		}
		obj[a.Name] = keep
	default:
		if err := checkImmutable(t, a, obj[a.Name], nil); err != nil {
			return err
		}
		delete(obj, a.Name)
	}
	return nil
}

// checkImmutable refuses to change def, an immutable attribute, from old,
// a value it has, to nv (RFC 7643 §7: set once, then never updated).
func checkImmutable(t patchTarget, def *Attribute, old, nv any) error {
	if def == nil || def.Mutability != Immutable || old == nil || reflect.DeepEqual(old, nv) {
		return nil
	}
	return mutability("attribute %q is immutable", t.name())
}

// normAttr normalizes v as the value of t.attr, accepting one object where
// a list is due. An empty string unassigns, as Entra ID clears attributes
// with "".
func normAttr(t patchTarget, v any) (any, error) {
	a := t.attr
	switch s := v.(type) {
	case map[string]any:
		if a.MultiValued {
			v = []any{s}
		}
	case string:
		if s == "" {
			return nil, nil
		}
	}
	return normValue(t.schema, t.name(), a, v)
}

// oneObject returns v, or its only element when v is a list of one, as
// some clients wrap the value of a filtered path in an array.
func oneObject(v any) any {
	if l, ok := v.([]any); ok && len(l) == 1 {
		return l[0]
	}
	return v
}

// asList returns the elements of a normalized multi-valued value.
func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// compact returns list without nil elements.
func compact(list []any) []any {
	out := list[:0]
	for _, e := range list {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// onePrimary keeps at most one primary value in list (RFC 7643 §2.4): when
// one of the values at touched, just written, is primary, the others lose
// their primary flag. The last one written wins.
func onePrimary(list []any, touched []int) {
	keep := -1
	for _, i := range touched {
		if m, ok := list[i].(map[string]any); ok && m["primary"] == true {
			keep = i
		}
	}
	if keep < 0 {
		return
	}
	for i, e := range list {
		if m, ok := e.(map[string]any); ok && i != keep {
			delete(m, "primary")
		}
	}
}

// indexOfSame returns the index of the value of list that e duplicates, or
// -1. Values of a complex attribute with a "value" sub-attribute are the
// same when value and type are; other values when they are equal.
func indexOfSame(a *Attribute, list []any, e any) int {
	for i, x := range list {
		xm, xok := x.(map[string]any)
		em, eok := e.(map[string]any)
		switch {
		case xok && eok && a.Sub("value") != nil:
			if equalValue(a.Sub("value"), xm["value"], em["value"]) && equalValue(a.Sub("type"), xm["type"], em["type"]) {
				return i
			}
		case containsValue(a, x, e) && containsValue(a, e, x):
			return i
		}
	}
	return -1
}

// containsValue reports whether value x of a has all that r has: every
// sub-attribute of r with an equal value in x, or x equal to r.
func containsValue(a *Attribute, x, r any) bool {
	rm, ok := r.(map[string]any)
	if !ok {
		return equalValue(a, x, r)
	}
	xm, ok := x.(map[string]any)
	if !ok {
		return false
	}
	for k, rv := range rm {
		if !equalValue(a.Sub(k), xm[k], rv) {
			return false
		}
	}
	return true
}

// equalValue compares two normalized values of def, ignoring case unless
// def is caseExact.
func equalValue(def *Attribute, x, y any) bool {
	xs, xok := x.(string)
	ys, yok := y.(string)
	if xok && yok {
		if def != nil && !def.CaseExact {
			return strings.EqualFold(xs, ys)
		}
		return xs == ys
	}
	if xf, ok := toFloat(x); ok {
		yf, ok := toFloat(y)
		return ok && xf == yf
	}
	return reflect.DeepEqual(x, y)
}

// matches evaluates a value filter on el, one value of t.attr.
func (p *patcher) matches(t patchTarget, e filter.Expression, el map[string]any) (bool, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := p.matches(t, e.Left, el)
		if err != nil {
			return false, err
		}
		r, err := p.matches(t, e.Right, el)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(e.Operator), string(filter.OR)) {
			return l || r, nil
		}
		return l && r, nil
	case *filter.NotExpression:
		x, err := p.matches(t, e.Expression, el)
		return !x, err
	case *filter.AttributeExpression:
		sub, err := filterSub(t, e)
		if err != nil {
			return false, err
		}
		return compareValue(sub, filter.CompareOperator(strings.ToLower(string(e.Operator))), el[sub.Name], e.CompareValue)
	}
	return false, app.ScimErrorf(app.EINVALID, app.ScimInvalidFilter, "unsupported expression inside %s[...]", t.attr.Name)
}

// filterSub returns the sub-attribute of t.attr a filter term compares.
func filterSub(t patchTarget, e *filter.AttributeExpression) (*Attribute, error) {
	ap := e.AttributePath
	var sub *Attribute
	if ap.URIPrefix == nil && ap.SubAttribute == nil {
		sub = t.attr.Sub(ap.AttributeName)
	}
	if sub == nil {
		return nil, invalidPath("attribute %q has no sub-attribute %q", t.attr.Name, ap.String())
	}
	return sub, nil
}

// compareValue evaluates "have op want" for a value of def, with the
// semantics CompileFilter gives the same filter in SQL.
func compareValue(def *Attribute, op filter.CompareOperator, have, want any) (bool, error) {
	bad := func(format string, args ...any) (bool, error) {
		return false, app.ScimErrorf(app.EINVALID, app.ScimInvalidFilter, format, args...)
	}
	if _, known := sqlOps[op]; !known && op != filter.PR && op != filter.CO && op != filter.SW && op != filter.EW {
		return bad("unknown operator %q", op)
	}
	if isOrdering(op) && (def.Type == TypeBoolean || def.Type == TypeBinary || def.Type == TypeComplex) {
		return bad("%s cannot be used with %s attribute %q", op, def.Type, def.Name)
	}
	switch {
	case op == filter.PR:
		return have != nil && have != "", nil
	case want == nil && op == filter.EQ:
		return have == nil, nil
	case want == nil && op == filter.NE:
		return have != nil, nil
	case want == nil:
		return bad("%s cannot compare %q with null", op, def.Name)
	}
	switch def.Type {
	case TypeBoolean:
		w, ok := want.(bool)
		if s, isStr := want.(string); isStr {
			w, ok = strings.EqualFold(s, "true"), strings.EqualFold(s, "true") || strings.EqualFold(s, "false")
		}
		if !ok || (op != filter.EQ && op != filter.NE) {
			return bad("%q is a boolean: compare it with eq or ne and true or false", def.Name)
		}
		h, ok := have.(bool)
		return ok && (h == w) == (op == filter.EQ), nil
	case TypeInteger, TypeDecimal:
		w, ok := toFloat(want)
		if !ok || op == filter.CO || op == filter.SW || op == filter.EW {
			return bad("%q is a number: compare it with a number", def.Name)
		}
		h, ok := toFloat(have)
		return ok && order(op, cmpFloat(h, w)), nil
	}
	w, ok := want.(string)
	if !ok {
		return bad("%q is a string: compare it with a string", def.Name)
	}
	h, ok := have.(string)
	if !ok {
		return false, nil
	}
	if def.Type == TypeDateTime {
		wt, err := time.Parse(time.RFC3339, w)
		if err != nil {
			return bad("%q is a dateTime such as 2008-01-23T04:56:22Z", def.Name)
		}
		ht, err := time.Parse(time.RFC3339, h)
		return err == nil && order(op, ht.Compare(wt)), nil
	}
	if !def.CaseExact {
		h, w = strings.ToLower(h), strings.ToLower(w)
	}
	switch op {
	case filter.CO:
		return strings.Contains(h, w), nil
	case filter.SW:
		return strings.HasPrefix(h, w), nil
	case filter.EW:
		return strings.HasSuffix(h, w), nil
	}
	return order(op, strings.Compare(h, w)), nil
}

// order reports whether c, the result of comparing have with want,
// satisfies op (eq, ne, gt, ge, lt, le).
func order(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.EQ:
		return c == 0
	case filter.NE:
		return c != 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// toFloat returns v as a float64 when it is a number.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

// elementFromFilter builds a new value of t.attr from a filter of eq terms
// joined by and, such as type eq "work" and primary eq true.
func elementFromFilter(t patchTarget, e filter.Expression, el map[string]any) (map[string]any, error) {
	cannot := noTarget("no value of %q matches the filter, and the filter cannot build one: use eq and \"and\" only", t.attr.Name)
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if !strings.EqualFold(string(e.Operator), string(filter.AND)) {
			return nil, cannot
		}
		if _, err := elementFromFilter(t, e.Left, el); err != nil {
			return nil, err
		}
		return elementFromFilter(t, e.Right, el)
	case *filter.AttributeExpression:
		if !strings.EqualFold(string(e.Operator), string(filter.EQ)) || e.CompareValue == nil {
			return nil, cannot
		}
		sub, err := filterSub(t, e)
		if err != nil {
			return nil, err
		}
		nv, err := normSingle(t.schema, t.attr.Name+"."+sub.Name, sub, e.CompareValue)
		if err != nil {
			return nil, err
		}
		el[sub.Name] = nv
		return el, nil
	}
	return nil, cannot
}

// isMembers reports whether a is the members attribute of a Group, whose
// values live as rows of group_members rather than in the data.
func (p *patcher) isMembers(a *Attribute) bool {
	return p.rt.Is(GroupResource) && a != nil && a.Name == "members"
}

// members turns an operation on members into member changes. Only whole
// members are added and removed: their sub-attributes are immutable or
// computed (display), so a path into them is a mutability error, and so is a
// replace of filtered members, which would change their value in place.
func (p *patcher) members(op PatchOp, t patchTarget) error {
	if t.sub != nil || (t.filter != nil && op.Op != "remove") {
		return mutability("members cannot be changed in place: remove them and add others")
	}
	switch {
	case op.Op == "remove" && t.filter != nil:
		ids, err := memberFilterIDs(t.filter)
		if err != nil {
			return err
		}
		p.removeMembers(ids)
	case op.Op == "remove" && op.Value == nil:
		p.setMembers(nil)
	default:
		ids, err := memberIDs(t, op.Value)
		if err != nil {
			return err
		}
		switch op.Op {
		case "add":
			p.addMembers(ids)
		case "remove":
			p.removeMembers(ids)
		default:
			p.setMembers(ids)
		}
	}
	return nil
}

// memberIDs returns the ids of the members listed in v, an array of
// objects with a "value" (or one such object).
func memberIDs(t patchTarget, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	nv, err := normAttr(t, v)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range asList(nv) {
		m, _ := e.(map[string]any)
		s, _ := m["value"].(string)
		id, err := memberID(s)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// memberFilterIDs returns the ids a filter on members names: it must be
// value eq "id", or several of those joined by or.
func memberFilterIDs(e filter.Expression) ([]string, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), string(filter.OR)) {
			l, err := memberFilterIDs(e.Left)
			if err != nil {
				return nil, err
			}
			r, err := memberFilterIDs(e.Right)
			return append(l, r...), err
		}
	case *filter.AttributeExpression:
		ap := e.AttributePath
		s, ok := e.CompareValue.(string)
		if ok && ap.URIPrefix == nil && ap.SubAttribute == nil && strings.EqualFold(ap.AttributeName, "value") &&
			strings.EqualFold(string(e.Operator), string(filter.EQ)) {
			id, err := memberID(s)
			return []string{id}, err
		}
	}
	return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidFilter, `members can be picked only by value eq "id", joined by or`)
}

// memberID returns s, the id of a User or Group, in canonical form.
func memberID(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", invalidValue("members: %q is not the id of a User or Group", truncate(s))
	}
	return u.String(), nil
}

func (p *patcher) addMembers(ids []string) {
	for _, id := range ids {
		delete(p.remove, id)
		if !p.add[id] {
			p.add[id] = true
			p.addOrder = append(p.addOrder, id)
		}
	}
}

func (p *patcher) removeMembers(ids []string) {
	for _, id := range ids {
		delete(p.add, id)
		if !p.replaceAll && !p.remove[id] {
			p.remove[id] = true
			p.removeOrder = append(p.removeOrder, id)
		}
	}
}

// setMembers makes the members exactly ids, whatever came before.
func (p *patcher) setMembers(ids []string) {
	p.replaceAll = true
	p.add, p.remove = map[string]bool{}, map[string]bool{}
	p.addOrder, p.removeOrder = nil, nil
	p.addMembers(ids)
}

// changes returns the member changes of all operations. An id added,
// removed and added again appears twice in addOrder but once in Add.
func (p *patcher) changes() MemberChanges {
	c := MemberChanges{ReplaceAll: p.replaceAll}
	listed := make(map[string]bool)
	for _, id := range p.addOrder {
		if p.add[id] && !listed[id] {
			listed[id] = true
			c.Add = append(c.Add, id)
		}
	}
	for _, id := range p.removeOrder {
		if p.remove[id] && !listed[id] {
			listed[id] = true
			c.Remove = append(c.Remove, id)
		}
	}
	return c
}

// deepCopy copies a decoded JSON value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// containsFold reports whether list, a decoded JSON array, holds the
// string s, ignoring case.
func containsFold(list any, s string) bool {
	l, _ := list.([]any)
	for _, e := range l {
		if e, ok := e.(string); ok && strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// atOp prefixes the message of err with the index of the operation.
func atOp(i int, err error) error {
	if e, ok := err.(*app.Error); ok {
		c := *e
		c.Message = fmt.Sprintf("Operations[%d]: %s", i, e.Message)
		return &c
	}
	return err
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

func invalidSyntax(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, format, args...)
}

func invalidPath(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidPath, format, args...)
}

func invalidValue(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, format, args...)
}

func noTarget(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimNoTarget, format, args...)
}

func mutability(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimMutability, format, args...)
}
