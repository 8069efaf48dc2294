package scim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Extension is a tenant's own extension schema of User or Group, defined by
// staff: urn:ietf:params:scim:schemas:extension:<name>:2.0:User (or Group).
// Its attributes are stored with the resource's other attributes in the
// jsonb column data, under the extension's URN, so they are filtered,
// sorted, projected and PATCHed like the enterprise extension's.
type Extension struct {
	Schema       *Schema
	ResourceType string   // "User" or "Group"
	Required     bool     // resources must carry the extension
	Indexed      []string // names of attributes with an index in the tenant's schema
}

// ExtensionDef is the JSON form of an Extension, as staff write it in the
// console, the CLI and the admin API, and as the control plane keeps it.
type ExtensionDef struct {
	Schema      string          `json:"schema"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Required    bool            `json:"required"`
	Attributes  []ExtensionAttr `json:"attributes"`
}

// ExtensionAttr is one attribute of an ExtensionDef: a SCIM attribute
// definition (RFC 7643 §7), plus whether it gets an index, which makes
// filters on it fast in large tenants.
type ExtensionAttr struct {
	Attribute
	Indexed bool `json:"indexed,omitempty"`
}

// Limits of an extension definition: every index slows the tenant's writes.
const (
	MaxExtensionAttrs = 100
	MaxIndexedAttrs   = 10 // indexed or unique attributes per extension
	maxAttrName       = 64
)

var (
	// extensionURN is the form of a tenant's extension URN; the name is what
	// staff choose. It holds no quote or backslash, so it is safe in the SQL
	// literals of index definitions.
	extensionURN = regexp.MustCompile(`^urn:ietf:params:scim:schemas:extension:([A-Za-z0-9][A-Za-z0-9._-]{0,62}):2\.0:(User|Group)$`)
	// attrName is ATTRNAME of RFC 7643 §2.1: ALPHA *(nameChar).
	attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// ParseExtension decodes and checks the JSON definition of an extension.
// Missing characteristics take the defaults of RFC 7643 §7 (readWrite,
// returned default, uniqueness none, caseExact false). It returns EINVALID
// with a message naming the faulty attribute when the definition is not
// one Bulkhead can serve.
func ParseExtension(data []byte) (*Extension, error) {
	var def ExtensionDef
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return nil, app.Errorf(app.EINVALID, "extension definition: %s", jsonMessage(err))
	}
	return def.Extension()
}

func jsonMessage(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return "field " + ute.Field + " must be " + ute.Type.String()
	}
	return err.Error()
}

// Extension checks def and returns the extension it defines.
func (def ExtensionDef) Extension() (*Extension, error) {
	m := extensionURN.FindStringSubmatch(def.Schema)
	if m == nil {
		return nil, app.Errorf(app.EINVALID, "schema %q must look like urn:ietf:params:scim:schemas:extension:NAME:2.0:User (or :Group); NAME is letters, digits, '.', '_' and '-'", def.Schema)
	}
	if strings.EqualFold(def.Schema, EnterpriseUserSchemaURN) {
		return nil, app.Errorf(app.EINVALID, "schema %q is the standard enterprise extension, which every tenant has", def.Schema)
	}
	if len(def.Attributes) == 0 {
		return nil, app.Errorf(app.EINVALID, "the extension needs at least one attribute")
	}
	if len(def.Attributes) > MaxExtensionAttrs {
		return nil, app.Errorf(app.EINVALID, "the extension has %d attributes; at most %d are allowed", len(def.Attributes), MaxExtensionAttrs)
	}
	name := def.Name
	if name == "" {
		name = m[1]
	}
	ext := &Extension{
		Schema:       &Schema{ID: def.Schema, Name: name, Description: def.Description},
		ResourceType: m[2],
		Required:     def.Required,
	}
	seen := map[string]bool{}
	for i := range def.Attributes {
		a := def.Attributes[i].Attribute
		if err := checkAttrDef(&a, "", seen); err != nil {
			return nil, err
		}
		if def.Attributes[i].Indexed {
			if a.Type == TypeComplex || a.Type == TypeBinary || a.MultiValued || a.Returned == ReturnedNever {
				return nil, app.Errorf(app.EINVALID, "attribute %q: only single-valued attributes that are returned can be indexed", a.Name)
			}
			ext.Indexed = append(ext.Indexed, a.Name)
		}
		ext.Schema.Attributes = append(ext.Schema.Attributes, &a)
	}
	if n := len(ext.Indexed) + len(ext.unique()); n > MaxIndexedAttrs {
		return nil, app.Errorf(app.EINVALID, "the extension asks for %d indexes (indexed or unique attributes); at most %d are allowed, as each slows the tenant's writes", n, MaxIndexedAttrs)
	}
	return ext, nil
}

// unique returns the names of the attributes of e that are unique and not
// also marked indexed (the unique index serves both).
func (e *Extension) unique() []string {
	var out []string
	for _, a := range e.Schema.Attributes {
		if a.Uniqueness == UniqueServer && !e.Indexes(a.Name) {
			out = append(out, a.Name)
		}
	}
	return out
}

// checkAttrDef checks one attribute definition, prefix being the name of
// its parent for sub-attributes, fills in default characteristics, and
// records its name (in lower case) in seen.
func checkAttrDef(a *Attribute, prefix string, seen map[string]bool) error {
	path := a.Name
	if prefix != "" {
		path = prefix + "." + a.Name
	}
	bad := func(format string, args ...any) error {
		return app.Errorf(app.EINVALID, "attribute %q: "+format, append([]any{path}, args...)...)
	}
	if !attrName.MatchString(a.Name) || len(a.Name) > maxAttrName {
		return app.Errorf(app.EINVALID, "attribute name %q must start with a letter and hold only letters, digits, '_' and '-' (at most %d characters)", path, maxAttrName)
	}
	if seen[strings.ToLower(a.Name)] {
		return bad("the name is used twice (names are case-insensitive)")
	}
	seen[strings.ToLower(a.Name)] = true
	switch a.Type {
	case TypeString, TypeBoolean, TypeDecimal, TypeInteger, TypeDateTime, TypeReference, TypeBinary:
		if len(a.SubAttributes) > 0 {
			return bad("only complex attributes have sub-attributes")
		}
	case TypeComplex:
		if prefix != "" {
			return bad("a sub-attribute cannot be complex")
		}
		if len(a.SubAttributes) == 0 {
			return bad("a complex attribute needs sub-attributes")
		}
		subs := map[string]bool{}
		for _, s := range a.SubAttributes {
			if s == nil {
				return bad("a sub-attribute is null")
			}
			if err := checkAttrDef(s, a.Name, subs); err != nil {
				return err
			}
		}
	case "":
		return bad("type is missing; one of string, boolean, decimal, integer, dateTime, reference, binary, complex")
	default:
		return bad("type %q is none of string, boolean, decimal, integer, dateTime, reference, binary, complex", a.Type)
	}
	if a.Mutability == "" {
		a.Mutability = ReadWrite
	}
	if a.Returned == "" {
		a.Returned = ReturnedDefault
	}
	if a.Uniqueness == "" {
		a.Uniqueness = UniqueNone
	}
	switch a.Mutability {
	case ReadWrite, Immutable, WriteOnly:
	case ReadOnly:
		return bad("readOnly attributes are set by the server; Bulkhead sets none for extensions")
	default:
		return bad("mutability %q is none of readWrite, immutable, writeOnly", a.Mutability)
	}
	switch a.Returned {
	case ReturnedAlways, ReturnedNever, ReturnedDefault, ReturnedRequest:
	default:
		return bad("returned %q is none of always, never, default, request", a.Returned)
	}
	if a.Mutability == WriteOnly && a.Returned != ReturnedNever {
		return bad("a writeOnly attribute must be returned never")
	}
	switch a.Uniqueness {
	case UniqueNone:
	case UniqueServer:
		if prefix != "" || a.MultiValued || a.Type == TypeComplex || a.Type == TypeBinary {
			return bad("uniqueness server applies to single-valued top-level attributes only")
		}
	case UniqueGlobal:
		return bad("uniqueness global is not offered: tenants share nothing")
	default:
		return bad("uniqueness %q is none of none, server", a.Uniqueness)
	}
	if a.Type == TypeDateTime || a.Type == TypeBinary {
		a.CaseExact = true // compared as written
	}
	if a.Type == TypeReference && len(a.ReferenceTypes) == 0 {
		a.ReferenceTypes = []string{"external"}
	}
	return nil
}

// Def returns the JSON form of e.
func (e *Extension) Def() ExtensionDef {
	def := ExtensionDef{Schema: e.Schema.ID, Name: e.Schema.Name, Description: e.Schema.Description, Required: e.Required}
	for _, a := range e.Schema.Attributes {
		def.Attributes = append(def.Attributes, ExtensionAttr{Attribute: *a, Indexed: e.Indexes(a.Name)})
	}
	return def
}

// Indexes reports whether attribute name of e has an index.
func (e *Extension) Indexes(name string) bool {
	for _, n := range e.Indexed {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// IndexExpr returns the SQL expression a filter on attribute a of e
// compiles to, for an index on the table of e's resource type: the text of
// the value, in lower case unless a is caseExact, or the jsonb value for
// numbers and booleans, which filters compare as jsonb.
func (e *Extension) IndexExpr(a *Attribute) string {
	obj := "(data->" + quoteKey(e.Schema.ID) + ")"
	switch a.Type {
	case TypeInteger, TypeDecimal, TypeBoolean:
		return "(" + obj + "->" + quoteKey(a.Name) + ")"
	}
	text := "(" + obj + "->>" + quoteKey(a.Name) + ")"
	if !a.CaseExact {
		return "lower" + text
	}
	return text
}

// IndexName returns the name of the index on attribute a of the extension
// schema urn, in the tenant's schema: "ext_" and a hash, the same for every
// spelling of the names.
func IndexName(urn string, a *Attribute) string {
	sum := sha256.Sum256([]byte(strings.ToLower(urn + ":" + a.Name)))
	return "ext_" + hex.EncodeToString(sum[:10])
}

// Table returns the tenant table of e's resource type.
func (e *Extension) Table() string {
	if e.ResourceType == GroupResource.ID {
		return GroupResource.store.table
	}
	return UserResource.store.table
}

// Extend returns a copy of rt that also accepts the extensions of exts made
// for it; rt itself is unchanged. With none, it returns rt.
func (rt *ResourceType) Extend(exts []*Extension) *ResourceType {
	var mine []*Extension
	for _, e := range exts {
		if e.ResourceType == rt.ID {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		return rt
	}
	c := *rt
	c.SchemaExtensions = append([]SchemaExtension(nil), rt.SchemaExtensions...)
	c.extensions = append([]*Schema(nil), rt.extensions...)
	c.tenantExts = append(append([]*Extension(nil), rt.tenantExts...), mine...)
	c.derived = new(derived) // other schemas: derived anew
	for _, e := range mine {
		c.SchemaExtensions = append(c.SchemaExtensions, SchemaExtension{Schema: e.Schema.ID, Required: e.Required})
		c.extensions = append(c.extensions, e.Schema)
	}
	return &c
}

// requiredExtension reports whether resources of rt must carry extension s.
func (rt *ResourceType) requiredExtension(s *Schema) bool {
	for _, e := range rt.SchemaExtensions {
		if e.Schema == s.ID {
			return e.Required
		}
	}
	return false
}

// Is reports whether rt is kind, one of UserResource and GroupResource,
// whether or not rt carries a tenant's extensions.
func (rt *ResourceType) Is(kind *ResourceType) bool { return rt.ID == kind.ID }

// Summary describes the attribute's type and the characteristics that
// differ from the defaults, e.g. "integer, required, unique", as the
// console and the audit trail show it.
func (a ExtensionAttr) Summary() string {
	parts := []string{a.Type}
	if a.MultiValued {
		parts[0] = "list of " + a.Type
	}
	if len(a.SubAttributes) > 0 {
		var subs []string
		for _, s := range a.SubAttributes {
			subs = append(subs, s.Name)
		}
		parts[0] += " (" + strings.Join(subs, ", ") + ")"
	}
	for _, f := range []struct {
		on   bool
		text string
	}{
		{a.Required, "required"},
		{a.Uniqueness == UniqueServer, "unique"},
		{a.Indexed, "indexed"},
		{a.CaseExact && a.Type == TypeString, "case-exact"},
		{a.Mutability != "" && a.Mutability != ReadWrite, a.Mutability},
		{a.Returned != "" && a.Returned != ReturnedDefault, "returned " + a.Returned},
	} {
		if f.on {
			parts = append(parts, f.text)
		}
	}
	return strings.Join(parts, ", ")
}
