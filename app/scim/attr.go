package scim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/scim2/filter-parser/v2"
)

// AttrPath is an attribute path resolved against the schemas of a resource
// type: the schema that defines the attribute, the attribute and, when the
// path names one, the sub-attribute. A path naming a whole schema, such as
// the enterprise extension URN alone, has a nil Attr.
type AttrPath struct {
	Schema *Schema
	Attr   *Attribute
	Sub    *Attribute
}

// String returns the canonical spelling of p: attribute names as the schema
// spells them, prefixed with the schema URN for extension attributes only
// (RFC 7644 §3.10 lets core attributes go without it).
func (p AttrPath) String() string {
	switch {
	case p.Attr == nil:
		return p.Schema.ID
	case p.Schema != UserSchema && p.Schema != GroupSchema:
		return p.Schema.ID + ":" + p.name()
	default:
		return p.name()
	}
}

// name returns the attribute and sub-attribute names of p, without URN.
func (p AttrPath) name() string {
	if p.Sub != nil {
		return p.Attr.Name + "." + p.Sub.Name
	}
	return p.Attr.Name
}

// key returns p in lower case with its schema URN always present, so that
// two spellings of one path compare equal.
func (p AttrPath) key() string {
	if p.Attr == nil {
		return strings.ToLower(p.Schema.ID)
	}
	return strings.ToLower(p.Schema.ID + ":" + p.name())
}

// appendKey appends p.key() to b: a key to look up in a map of keys
// without allocating one, when p's names are ASCII.
func (p AttrPath) appendKey(b []byte) []byte {
	start := len(b)
	b = append(b, p.Schema.ID...)
	if p.Attr != nil {
		b = append(append(b, ':'), p.Attr.Name...)
		if p.Sub != nil {
			b = append(append(b, '.'), p.Sub.Name...)
		}
	}
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c >= utf8.RuneSelf:
			return append(b[:start], p.key()...)
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// common reports whether p names one of the attributes every resource has
// (id, externalId, meta), which live in columns rather than in the schema.
func (p AttrPath) common() bool {
	for _, a := range CommonAttributes {
		if p.Attr == a {
			return true
		}
	}
	return false
}

// LookupAttr resolves path, an attribute path such as "name.givenName",
// "NAME.GIVENNAME" or "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
// against the schemas of rt, ignoring case (RFC 7643 §2.1). A path that is a
// schema URN alone names the whole schema. A path without a URN is looked up
// in the core schema first, then in the extensions.
//
// It returns an *app.Error with code EINVALID and the given SCIM error type
// (app.ScimInvalidFilter, app.ScimInvalidPath, ...) when path is malformed or
// names no attribute.
func (rt *ResourceType) LookupAttr(path, scimType string) (AttrPath, error) {
	for _, s := range rt.schemas() {
		if strings.EqualFold(path, s.ID) {
			return AttrPath{Schema: s}, nil
		}
	}
	ap := filter.AttributePath{AttributeName: path}
	if !isAttrName(path) { // a plain name, the common case, needs no parser
		var err error
		if ap, err = parseAttrPath(path); err != nil {
			return AttrPath{}, app.ScimErrorf(app.EINVALID, scimType, "invalid attribute path %q", path)
		}
	}
	p, ok := rt.resolve(ap)
	if !ok {
		return AttrPath{}, app.ScimErrorf(app.EINVALID, scimType, "unknown attribute %q", path)
	}
	return p, nil
}

// isAttrName reports whether s is an ATTRNAME of RFC 7643 §2.1: ALPHA
// followed by letters, digits, "-" and "_".
func isAttrName(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// parseAttrPath parses path with the filter parser, turning a panic of the
// parser into an error: input from a client must never crash the server.
func parseAttrPath(path string) (ap filter.AttributePath, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parse attribute path: %v", r)
		}
	}()
	return filter.ParseAttrPath([]byte(path))
}

// derived holds what a ResourceType's schemas and storage alone
// determine, worked out once rather than for every request. A tenant's
// rules change neither, so the copies WithRules makes share it; Extend,
// which adds schemas, gives its copy a new one. Its slices are shared:
// callers only read them.
type derived struct {
	listsOnce sync.Once
	schemas   []*Schema    // the core schema, then the extensions
	coreAttrs []*Attribute // attrsOf(core)

	sqlOnce sync.Once
	sql     typeSQL
}

// derive returns the derived values of rt, worked out or not yet.
func (rt *ResourceType) derive() *derived {
	if rt.derived == nil { // a ResourceType written out by hand, as tests do: nothing to share
		return new(derived)
	}
	return rt.derived
}

// lists returns rt's derived values with its schema and attribute lists.
func (rt *ResourceType) lists() *derived {
	d := rt.derive()
	d.listsOnce.Do(func() {
		d.schemas = slices.Clip(append([]*Schema{rt.core}, rt.extensions...))
		d.coreAttrs = slices.Clip(slices.Concat([]*Attribute{schemasAttribute}, CommonAttributes, rt.core.Attributes))
	})
	return d
}

// schemas returns the core schema of rt followed by its extensions.
func (rt *ResourceType) schemas() []*Schema { return rt.lists().schemas }

// schemaByURN returns the schema of rt whose id is urn, ignoring case.
func (rt *ResourceType) schemaByURN(urn string) *Schema {
	if strings.EqualFold(rt.core.ID, urn) { // as schemas() orders them, without building the list
		return rt.core
	}
	for _, s := range rt.extensions {
		if strings.EqualFold(s.ID, urn) {
			return s
		}
	}
	return nil
}

// attrsOf returns the top-level attributes reachable under schema s of rt:
// "schemas" and the common attributes belong with the core schema.
func (rt *ResourceType) attrsOf(s *Schema) []*Attribute {
	if s == rt.core {
		return rt.lists().coreAttrs
	}
	return s.Attributes
}

// resolve finds the definition of a parsed attribute path.
func (rt *ResourceType) resolve(ap filter.AttributePath) (AttrPath, bool) {
	var p AttrPath
	if ap.URIPrefix != nil {
		s := rt.schemaByURN(*ap.URIPrefix)
		if s == nil {
			return AttrPath{}, false
		}
		p = AttrPath{Schema: s, Attr: findAttr(rt.attrsOf(s), ap.AttributeName)}
	} else {
		for _, s := range rt.schemas() {
			if a := findAttr(rt.attrsOf(s), ap.AttributeName); a != nil {
				p = AttrPath{Schema: s, Attr: a}
				break
			}
		}
	}
	if p.Attr == nil {
		return AttrPath{}, false
	}
	if ap.SubAttribute != nil {
		p.Sub = p.Attr.Sub(*ap.SubAttribute)
		if p.Sub == nil {
			return AttrPath{}, false
		}
	}
	return p, true
}
