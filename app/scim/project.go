package scim

import (
	"strings"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Projection selects which attributes of a resource a response carries,
// from the attributes and excludedAttributes query parameters
// (RFC 7644 §3.4.2.5, §3.9) and the "returned" characteristic of each
// attribute (RFC 7643 §7). rt.Projection("", "") returns the default set.
type Projection struct {
	rt      *ResourceType
	include map[string]bool // AttrPath keys asked for by attributes; empty: the default set
	exclude map[string]bool // AttrPath keys given in excludedAttributes
}

// Projection returns the projection asked for by attributes and
// excludedAttributes, two comma-separated lists of attribute paths (with or
// without schema URN, any case, sub-attributes as "name.givenName").
//
// Names of unknown attributes are ignored, as most service providers do,
// so it returns no error. When both lists are given, attributes picks the
// set and excludedAttributes then removes from it. Attributes returned
// "always" (id, and "schemas") are kept whatever is asked; attributes
// returned "never" (password) are dropped whatever is asked.
func (rt *ResourceType) Projection(attributes, excludedAttributes string) Projection {
	return Projection{
		rt:      rt,
		include: rt.pathKeys(attributes),
		exclude: rt.pathKeys(excludedAttributes),
	}
}

// pathKeys resolves a comma-separated list of attribute paths into keys;
// nil when it names none, as for the empty list of most requests.
func (rt *ResourceType) pathKeys(list string) map[string]bool {
	var keys map[string]bool
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if p, err := rt.LookupAttr(name, app.ScimInvalidValue); err == nil {
			if keys == nil {
				keys = make(map[string]bool)
			}
			keys[p.key()] = true
		}
	}
	return keys
}

// Includes reports whether responses projected by p carry attr, an
// attribute path such as "members", at least in part. The store uses it to
// skip loading what would be dropped anyway. It returns false for a path
// that names no attribute.
func (p Projection) Includes(attr string) bool {
	path, err := p.rt.LookupAttr(attr, app.ScimInvalidValue)
	if err != nil {
		return false
	}
	if path.Attr == nil {
		return p.includesSchema(path.Schema)
	}
	top := AttrPath{Schema: path.Schema, Attr: path.Attr}
	keep, whole := p.selected(top)
	if !keep || path.Sub == nil {
		return keep
	}
	return p.subSelected(path, whole)
}

// Apply returns the attributes of res, a full resource with "schemas", "id"
// and "meta", that p selects. res is not modified.
func (p Projection) Apply(res map[string]any) map[string]any {
	out := make(map[string]any, len(res))
	for key, v := range res {
		if key == "schemas" {
			out[key] = v
			continue
		}
		if s := p.rt.schemaByURN(key); s != nil && s != p.rt.core {
			obj, _ := v.(map[string]any)
			if ext := p.object(s, s.Attributes, obj); len(ext) > 0 {
				out[key] = ext
			}
			continue
		}
		if a := findAttr(p.rt.attrsOf(p.rt.core), key); a != nil {
			if v, ok := p.value(AttrPath{Schema: p.rt.core, Attr: a}, v); ok {
				out[key] = v
			}
		}
	}
	return out
}

// object projects the attributes of one schema held in obj.
func (p Projection) object(s *Schema, attrs []*Attribute, obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for key, v := range obj {
		if a := findAttr(attrs, key); a != nil {
			if v, ok := p.value(AttrPath{Schema: s, Attr: a}, v); ok {
				out[key] = v
			}
		}
	}
	return out
}

// value projects v, the value of the top-level attribute path.
func (p Projection) value(path AttrPath, v any) (any, bool) {
	keep, whole := p.selected(path)
	if !keep {
		return nil, false
	}
	if path.Attr.Type != TypeComplex {
		return v, true
	}
	switch v := v.(type) {
	case map[string]any:
		out := p.subs(path, v, whole)
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range v {
			if obj, ok := e.(map[string]any); ok {
				if e := p.subs(path, obj, whole); len(e) > 0 {
					out = append(out, e)
				}
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// subs projects the sub-attributes of one value of the complex attribute
// path. whole says whether the attribute was selected as a whole rather than
// through some of its sub-attributes.
func (p Projection) subs(path AttrPath, obj map[string]any, whole bool) map[string]any {
	out := make(map[string]any, len(obj))
	for key, v := range obj {
		sub := path
		if sub.Sub = path.Attr.Sub(key); sub.Sub != nil && p.subSelected(sub, whole) {
			out[key] = v
		}
	}
	return out
}

// selected reports whether the top-level attribute path is returned, and
// whether whole, rather than only the sub-attributes named in attributes.
func (p Projection) selected(path AttrPath) (keep, whole bool) {
	switch {
	case path.Attr.Returned == ReturnedNever:
		return false, false
	case path.Attr.Returned == ReturnedAlways:
		return true, true
	case len(p.include) == 0 && len(p.exclude) == 0: // the default set: no key to look up
		return path.Attr.Returned != ReturnedRequest, true
	}
	var kb, sb [128]byte // keys built on the stack: this runs for every attribute of every resource
	key, schema := path.appendKey(kb[:0]), AttrPath{Schema: path.Schema}.appendKey(sb[:0])
	switch {
	case p.exclude[string(key)] || p.exclude[string(schema)]:
		return false, false
	case len(p.include) == 0:
		return path.Attr.Returned != ReturnedRequest, true
	case p.include[string(key)] || p.include[string(schema)]:
		return true, true
	}
	for k := range p.include { // a sub-attribute of path: k starts with key + "."
		if len(k) > len(key) && k[len(key)] == '.' && k[:len(key)] == string(key) {
			return true, false
		}
	}
	return false, false
}

// subSelected reports whether the sub-attribute path.Sub is returned, its
// parent being returned whole or not.
func (p Projection) subSelected(path AttrPath, whole bool) bool {
	switch {
	case path.Sub.Returned == ReturnedNever:
		return false
	case path.Sub.Returned == ReturnedAlways:
		return true
	}
	if len(p.include) > 0 || len(p.exclude) > 0 {
		var kb [128]byte
		switch key := path.appendKey(kb[:0]); {
		case p.exclude[string(key)]:
			return false
		case p.include[string(key)]:
			return true
		}
	}
	return whole && path.Sub.Returned != ReturnedRequest
}

// includesSchema reports whether any attribute of schema s is returned.
func (p Projection) includesSchema(s *Schema) bool {
	for _, a := range s.Attributes {
		if keep, _ := p.selected(AttrPath{Schema: s, Attr: a}); keep {
			return true
		}
	}
	return false
}
