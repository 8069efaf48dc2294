package scim

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Normalize checks body, the decoded JSON object of a POST or PUT request,
// against the schemas of rt and returns the resource as Bulkhead stores it:
//
//   - attribute names in their canonical spelling at every level, extension
//     attributes inside one object keyed by the extension URN (attributes
//     written flat as "urn:...:enterprise:2.0:User:employeeNumber" are folded
//     into it);
//   - readOnly attributes (id, meta, groups, manager.displayName) dropped, as
//     RFC 7643 §7 says they SHALL be ignored, so id never comes from a client;
//   - unknown attributes dropped, and null values and empty arrays too, which
//     RFC 7643 §2.5 makes equal to unassigned;
//   - booleans sent as the strings "True" and "False" (Microsoft Entra ID does)
//     turned into booleans;
//   - a value repeated in a multi-valued attribute kept once (RFC 7643 §2.4;
//     sameKey says which values are the same), primary if any repeat was;
//   - "schemas" listing the core schema and each extension present.
//
// The password, if any, stays in the result: take it out with TakePassword.
// canonicalValues are not enforced (RFC 7643 §2.3.1 lets servers accept
// others, and identity providers send their own "type" values).
//
// Normalize returns an *app.Error with code EINVALID and SCIM type
// invalidValue when "schemas" lacks the core schema URN, when a value has the
// wrong type (a multi-valued attribute that is not an array included), when
// an attribute is given twice, when more than one value of a multi-valued
// attribute is primary, when a required attribute (userName, displayName)
// is missing or empty, and when an indexed string attribute is longer than
// MaxIndexedChars.
func (rt *ResourceType) Normalize(body map[string]any) (map[string]any, error) {
	if rt.rules.DeclaredSchemas {
		if err := rt.checkDeclared(body); err != nil {
			return nil, err
		}
	}
	return rt.normalize(body)
}

// normalize is Normalize without the Rules on what a client's body must
// declare: ApplyPatch's result is Bulkhead's, not the client's.
func (rt *ResourceType) normalize(body map[string]any) (map[string]any, error) {
	if err := rt.checkSchemas(body); err != nil {
		return nil, err
	}
	out := make(map[string]any)
	for key, v := range body {
		if strings.EqualFold(key, "schemas") {
			continue
		}
		if s := rt.schemaByURN(key); s != nil && s != rt.core {
			if err := rt.putExtension(out, s, v); err != nil {
				return nil, err
			}
			continue
		}
		s, name := rt.splitURN(key)
		dst := out
		if s != rt.core {
			dst = extensionObject(out, s)
		}
		if err := putAttr(dst, s, "", rt.attrsOf(s), name, v); err != nil {
			return nil, err
		}
	}

	schemas := []any{rt.core.ID}
	for _, s := range rt.extensions {
		if ext, ok := out[s.ID].(map[string]any); ok {
			if len(ext) == 0 {
				delete(out, s.ID)
				continue
			}
			schemas = append(schemas, s.ID)
		}
	}
	out["schemas"] = schemas

	for _, s := range rt.schemas() {
		obj := out
		if s != rt.core {
			obj, _ = out[s.ID].(map[string]any)
		}
		if obj == nil {
			if rt.requiredExtension(s) {
				return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "extension %q is required", s.ID)
			}
			continue
		}
		if err := checkRequired(obj, s, "", s.Attributes); err != nil {
			return nil, err
		}
	}
	if err := rt.checkIndexed(out); err != nil {
		return nil, err
	}
	return out, nil
}

// MaxIndexedChars is the most characters a string attribute kept under a
// btree index may hold: userName, displayName, externalId and emails.value
// of a User, displayName and externalId of a Group, and the indexed or
// unique attributes of a tenant's own extensions. PostgreSQL refuses an
// index entry over about 2,704 bytes (a 500 for the client, before this
// limit); 512 characters are at most 2,048 bytes of UTF-8, lower-cased or
// not, and no identity provider sends names that long.
const MaxIndexedChars = 512

// checkIndexed returns EINVALID (invalidValue), naming the attribute and the
// limit, when an indexed string attribute of res is longer than
// MaxIndexedChars.
func (rt *ResourceType) checkIndexed(res map[string]any) error {
	check := func(path string, v any) error {
		s, ok := v.(string)
		if n := utf8.RuneCountInString(s); ok && n > MaxIndexedChars {
			return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q has %d characters; at most %d are allowed", path, n, MaxIndexedChars)
		}
		return nil
	}
	var indexed []string
	if rt.store != nil {
		indexed = rt.store.indexed
	}
	for _, path := range indexed {
		name, sub, _ := strings.Cut(path, ".")
		if sub == "" {
			if err := check(path, res[name]); err != nil {
				return err
			}
			continue
		}
		list, _ := res[name].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			if err := check(path, m[sub]); err != nil {
				return err
			}
		}
	}
	for _, e := range rt.tenantExts {
		obj, _ := res[e.Schema.ID].(map[string]any)
		for _, a := range e.Schema.Attributes {
			if e.Indexes(a.Name) || a.Uniqueness == UniqueServer {
				if err := check(e.Schema.ID+":"+a.Name, obj[a.Name]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TakePassword removes the password from res, a resource returned by
// Normalize, and returns it; ok is false when res holds no password. The
// store hashes it and never keeps it in the resource's data.
func TakePassword(res map[string]any) (password string, ok bool) {
	password, ok = res["password"].(string)
	delete(res, "password")
	return password, ok
}

// checkSchemas requires body's "schemas" to list the core schema of rt.
//
// A missing or wrong "schemas" is reported as invalidValue, not
// invalidSyntax: the body is well-formed JSON of the right structure, and
// "schemas" is a REQUIRED attribute (RFC 7643 §3) whose value is missing or
// not what the resource needs, which is how RFC 7644 §3.12 defines
// invalidValue ("A required value was missing, or the value specified was
// not compatible with the operation or attribute type, or resource schema").
func (rt *ResourceType) checkSchemas(body map[string]any) error {
	for key, v := range body {
		if !strings.EqualFold(key, "schemas") {
			continue
		}
		list, _ := v.([]any)
		for _, s := range list {
			if s, ok := s.(string); ok && strings.EqualFold(s, rt.core.ID) {
				return nil
			}
		}
	}
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "\"schemas\" must contain %q", rt.core.ID)
}

// splitURN splits key into the schema its URN prefix names and the rest.
// A key without a known schema URN prefix belongs to the core schema.
func (rt *ResourceType) splitURN(key string) (*Schema, string) {
	for _, s := range rt.schemas() {
		n := len(s.ID)
		if len(key) > n+1 && key[n] == ':' && strings.EqualFold(key[:n], s.ID) {
			return s, key[n+1:]
		}
	}
	return rt.core, key
}

// putExtension normalizes v, the object of extension s, into out.
func (rt *ResourceType) putExtension(out map[string]any, s *Schema, v any) error {
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "%q must be an object", s.ID)
	}
	ext := extensionObject(out, s)
	for name, v := range obj {
		if err := putAttr(ext, s, "", s.Attributes, name, v); err != nil {
			return err
		}
	}
	return nil
}

// extensionObject returns the object of extension s in out, creating it.
func extensionObject(out map[string]any, s *Schema) map[string]any {
	ext, ok := out[s.ID].(map[string]any)
	if !ok {
		ext = make(map[string]any)
		out[s.ID] = ext
	}
	return ext
}

// putAttr normalizes the value v of the attribute called name among attrs
// and stores it in dst under its canonical name. prefix is the canonical
// path of the enclosing complex attribute ("" at the top), for messages.
func putAttr(dst map[string]any, s *Schema, prefix string, attrs []*Attribute, name string, v any) error {
	a := findAttr(attrs, name)
	if a == nil || a.Mutability == ReadOnly {
		return nil
	}
	path := pathName(s, prefix, a)
	if _, dup := dst[a.Name]; dup {
		return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q is given more than once", path)
	}
	nv, err := normValue(s, path, a, v)
	if err != nil {
		return err
	}
	if nv != nil {
		dst[a.Name] = nv
	}
	return nil
}

// pathName returns the canonical path of attribute a inside prefix, with
// the schema URN for extension attributes.
func pathName(s *Schema, prefix string, a *Attribute) string {
	if prefix != "" {
		return prefix + "." + a.Name
	}
	if s != UserSchema && s != GroupSchema {
		return s.ID + ":" + a.Name
	}
	return a.Name
}

// normValue checks v against a and returns it normalized, or nil when v is
// unassigned (null, an empty array, an empty object).
func normValue(s *Schema, path string, a *Attribute, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !a.MultiValued {
		return normSingle(s, path, a, v)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q must be an array", path)
	}
	if limit := maxValues(a); len(list) > limit {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q has %d values; at most %d are allowed", path, len(list), limit)
	}
	out := make([]any, 0, len(list))
	seen := make(map[string]int, len(list)) // sameKey → index in out
	for _, e := range list {
		nv, err := normSingle(s, path, a, e)
		if err != nil {
			return nil, err
		}
		if nv == nil {
			continue
		}
		// RFC 7643 §2.4: a multi-valued attribute SHOULD NOT hold the
		// same value twice. A repeat is dropped rather than refused, as
		// identity providers resend what they hold; the first stays, and
		// is primary if the repeat was.
		k := sameKey(a, nv)
		if i, dup := seen[k]; dup {
			if obj, ok := nv.(map[string]any); ok && obj["primary"] == true {
				out[i].(map[string]any)["primary"] = true
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, nv)
	}
	primaries := 0
	for _, v := range out {
		if obj, ok := v.(map[string]any); ok && obj["primary"] == true {
			primaries++
		}
	}
	if primaries > 1 {
		return nil, app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q has more than one primary value", path)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// sameKey returns what makes v, a normalized value of the multi-valued
// attribute a, the same value as another: value and type for a complex
// attribute that has them (emails, phoneNumbers: the same address at work
// and at home is two values), value alone for a Group's members (their type
// follows from the id), every sub-attribute for other complex values, and
// the value itself otherwise. Strings compare ignoring case unless caseExact.
func sameKey(a *Attribute, v any) string {
	obj, ok := v.(map[string]any)
	switch {
	case !ok:
		return keyPart(a, v)
	case a.Name == "members" && a.Sub("value") != nil:
		return keyPart(a.Sub("value"), obj["value"])
	case a.Sub("value") != nil:
		return keyPart(a.Sub("type"), obj["type"]) + "\x00" + keyPart(a.Sub("value"), obj["value"])
	}
	b, _ := json.Marshal(obj) // keys sorted: equal objects, equal text
	return string(b)
}

// keyPart returns v, one value of def, as part of a sameKey.
func keyPart(def *Attribute, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if def != nil && !def.CaseExact {
			return strings.ToLower(v)
		}
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// MaxValues is the most values a multi-valued attribute may hold, members of
// a Group excepted: a person has a handful of emails, never thousands.
const MaxValues = 1000

// MaxMembers is the most members one request may give a Group.
const MaxMembers = 200_000

func maxValues(a *Attribute) int {
	if a.Name == "members" {
		return MaxMembers
	}
	return MaxValues
}

// normSingle checks one value of a, ignoring a.MultiValued.
func normSingle(s *Schema, path string, a *Attribute, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func(what string) error {
		return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q must be %s", path, what)
	}
	switch a.Type {
	case TypeComplex:
		if id, ok := v.(string); ok && a.Sub("value") != nil {
			// Entra ID sends the enterprise manager as a bare id.
			v = map[string]any{"value": id}
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, bad("an object")
		}
		out := make(map[string]any)
		for name, sv := range obj {
			if err := putAttr(out, s, path, a.SubAttributes, name, sv); err != nil {
				return nil, err
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		if err := checkRequired(out, s, path, a.SubAttributes); err != nil {
			return nil, err
		}
		return out, nil
	case TypeString, TypeReference:
		if _, ok := v.(string); !ok {
			return nil, bad("a string")
		}
	case TypeBinary:
		str, ok := v.(string)
		if !ok {
			return nil, bad("a base64 string")
		}
		clean := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, str)
		if _, err := base64.StdEncoding.DecodeString(clean); err != nil {
			return nil, bad("a base64 string")
		}
	case TypeBoolean:
		switch b := v.(type) {
		case bool:
		case string:
			// Microsoft Entra ID sends "True" and "False".
			switch {
			case strings.EqualFold(b, "true"):
				return true, nil
			case strings.EqualFold(b, "false"):
				return false, nil
			}
			return nil, bad("a boolean")
		default:
			return nil, bad("a boolean")
		}
	case TypeInteger:
		if !isInteger(v) {
			return nil, bad("an integer")
		}
	case TypeDecimal:
		if !isNumber(v) {
			return nil, bad("a number")
		}
	case TypeDateTime:
		str, ok := v.(string)
		if !ok {
			return nil, bad("a dateTime")
		}
		if _, err := time.Parse(time.RFC3339, str); err != nil {
			return nil, bad("a dateTime such as 2008-01-23T04:56:22Z")
		}
	}
	return v, nil
}

// checkRequired requires each required attribute of attrs to have a
// non-empty value in obj.
func checkRequired(obj map[string]any, s *Schema, prefix string, attrs []*Attribute) error {
	for _, a := range attrs {
		if !a.Required {
			continue
		}
		v, ok := obj[a.Name]
		if str, isStr := v.(string); !ok || (isStr && strings.TrimSpace(str) == "") {
			return app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "attribute %q is required", pathName(s, prefix, a))
		}
	}
	return nil
}

func isNumber(v any) bool {
	switch n := v.(type) {
	case float64:
		return !math.IsNaN(n) && !math.IsInf(n, 0)
	case json.Number:
		_, err := n.Float64()
		return err == nil
	case int, int32, int64:
		return true
	}
	return false
}

func isInteger(v any) bool {
	switch n := v.(type) {
	case float64:
		return n == math.Trunc(n) && !math.IsInf(n, 0)
	case json.Number:
		_, err := n.Int64()
		return err == nil
	case int, int32, int64:
		return true
	}
	return false
}
