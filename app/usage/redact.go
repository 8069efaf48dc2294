package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// The request inspector shows support staff, who must never see customer
// personal data, what an identity provider sent: its structure, never its
// values. Redaction keeps attribute names (schema, not data, and only when
// they are well-formed attribute paths), operators, the route up to the
// resource type, the shape of a body (objects, arrays, the kind and length
// of each value) and the few values that are protocol rather than data:
// known schema URNs, PATCH op and Bulk method. Every other value, whatever
// its key, becomes a placeholder from scim.RedactValue ("…"(12)) or
// scim.RedactText (…(12)).

// Captured is a failed request as the server saw it, before redaction.
type Captured struct {
	Method    string
	Path      string // URL path, unescaped
	RawQuery  string
	Body      []byte
	Truncated bool // Body was cut short at the capture limit
	ScimType  string
	Detail    string // the SCIM error detail the client got
}

// Redact returns the inspector's view of c: its method, path, query, body
// and error detail with every value replaced by its kind and length.
func Redact(c Captured) Failure {
	var names []string
	body := RedactBody(c.Body, c.Truncated, &names)
	path := RedactRequestURI(c.Path, c.RawQuery, &names)
	method := c.Method
	if !knownMethods[method] {
		method = scim.RedactText(method)
	}
	return Failure{
		Method:   method,
		Path:     path,
		ScimType: c.ScimType,
		Detail:   RedactDetail(c.Detail, names),
		Body:     body,
	}
}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

// knownURNs are the schema URNs a body's "schemas" may show: protocol, not
// data. A tenant's own extension URN is shown by its length.
var knownURNs = map[string]bool{
	scim.UserSchemaURN:           true,
	scim.GroupSchemaURN:          true,
	scim.EnterpriseUserSchemaURN: true,
	scim.PatchOpSchemaURN:        true,
	"urn:ietf:params:scim:api:messages:2.0:SearchRequest": true,
	"urn:ietf:params:scim:api:messages:2.0:BulkRequest":   true,
}

// SCIM resource endpoints and the fixed segments below them, which a
// redacted path keeps.
var resourceSegments = map[string]bool{
	"Users": true, "Groups": true, "Bulk": true, ".search": true, "Me": true,
	"ServiceProviderConfig": true, "ResourceTypes": true, "Schemas": true,
}

// RedactURLPath returns path, a request's URL path, unescaped, with the
// route up to the resource type kept (/tenants/{id}/scim/v2/Users; the
// tenant id stays, staff know tenants) and every segment after it replaced
// by its length. A Bulk operation's path (/Users/{id}), relative to the
// base URL, is redacted the same way.
func RedactURLPath(path string) string {
	segs := strings.Split(path, "/")
	var out []string
	i := 0
	switch {
	case len(segs) > 4 && segs[0] == "" && segs[1] == "tenants" && segs[3] == "scim" && segs[4] == "v2":
		tenant := segs[2]
		if !store.ValidTenantID(tenant) {
			tenant = scim.RedactText(tenant)
		}
		out, i = []string{"", "tenants", tenant, "scim", "v2"}, 5
	case len(segs) > 2 && segs[0] == "" && segs[1] == "scim" && segs[2] == "v2":
		out, i = []string{"", "scim", "v2"}, 3
	case len(segs) > 1 && segs[0] == "":
		out, i = []string{""}, 1 // relative to a base URL, as in Bulk
	}
	resource := ""
	for ; i < len(segs); i++ {
		s := segs[i]
		switch {
		case s == "" && i == len(segs)-1: // a trailing slash
		case resource == "" && resourceSegments[s]:
			resource = s
		case resource != "" && s == ".search" && i == len(segs)-1 && (resource == "Users" || resource == "Groups"):
		default:
			s = scim.RedactText(s)
			if resource == "" {
				resource = s
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, "/")
}

// RedactRequestURI returns a request's path, by RedactURLPath, and its
// query: parameter names that are well-formed names, filter by
// scim.RedactFilter, attributes, excludedAttributes and sortBy as lists of
// attribute paths, and every other value by its length. It adds the names
// it kept to names.
func RedactRequestURI(path, rawQuery string, names *[]string) string {
	path = RedactURLPath(path)
	if rawQuery == "" {
		return path
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return path + "?" + scim.RedactText(rawQuery)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if !scim.IsAttrPath(k) {
			name = scim.RedactText(k)
		}
		for _, v := range q[k] {
			parts = append(parts, name+"="+redactParam(k, v, names))
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// redactParam redacts v, the value of the list parameter k, in a query or
// at the top of a /.search body.
func redactParam(k, v string, names *[]string) string {
	switch strings.ToLower(k) {
	case "filter":
		f, kept := scim.RedactFilter(v)
		*names = append(*names, kept...)
		return f
	case "attributes", "excludedattributes", "sortby":
		return redactAttrList(v, names)
	}
	return scim.RedactText(v)
}

// redactAttrList keeps the well-formed attribute paths of v, a comma
// separated list, and replaces the rest by their length.
func redactAttrList(v string, names *[]string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		if a := strings.TrimSpace(p); scim.IsAttrPath(a) {
			parts[i] = a
			*names = append(*names, a)
		} else {
			parts[i] = scim.RedactText(p)
		}
	}
	return strings.Join(parts, ",")
}

// RedactBody returns body, a JSON document, as its structure: keys that
// are well-formed attribute paths or URNs (others by their length),
// objects and arrays with their members, and every value by its kind and
// length, even the values of id, type or active. The only values kept are
// protocol: known URNs under "schemas", PATCH "op" and Bulk "method", PATCH
// and Bulk "path" through scim.RedactPatchPath and RedactURLPath, and a
// /.search body's filter, attributes and sortBy by their structure. A body
// that is not JSON, or was cut short at the capture limit, is described by
// its size alone. It adds the names it kept to names, for RedactDetail.
func RedactBody(body []byte, truncated bool, names *[]string) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if truncated {
		return fmt.Sprintf("<body larger than %d bytes: not kept>", len(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	r := &bodyRedactor{dec: dec, names: names}
	if err := r.value(roleDocument, ""); err != nil {
		return fmt.Sprintf("<not valid JSON: %d bytes>", len(body))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Sprintf("<not valid JSON: %d bytes>", len(body))
	}
	return r.out.String()
}

// maxShownElements is how many elements of an array a redacted body
// shows; the rest are counted.
const maxShownElements = 20

// A role says which protocol keys a JSON value may hold.
type role int

const (
	roleData      role = iota // resource data: only keys are kept
	roleDocument              // a request body: schemas, Operations, a search's parameters
	roleOperation             // an element of Operations: op, method, path, data
)

// bodyRedactor writes a JSON document token by token, keeping the order of
// its keys.
type bodyRedactor struct {
	dec   *json.Decoder
	out   strings.Builder
	names *[]string
	quiet int // > 0 while skipping elements past maxShownElements
}

func (r *bodyRedactor) write(s string) {
	if r.quiet == 0 {
		r.out.WriteString(s)
	}
}

func (r *bodyRedactor) keep(name string) {
	if r.quiet == 0 {
		*r.names = append(*r.names, name)
	}
}

// value reads and writes one JSON value of the given role, found under key
// (lower case) of its parent object.
func (r *bodyRedactor) value(ro role, key string) error {
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return r.object(ro)
	case json.Delim('['):
		return r.array(ro, key)
	}
	if s, ok := tok.(string); ok {
		r.write(r.redactString(ro, key, s))
		return nil
	}
	if _, ok := tok.(json.Delim); ok {
		return fmt.Errorf("unexpected %v", tok)
	}
	r.write(scim.RedactValue(tok))
	return nil
}

// redactString returns the string s, found under key, as the inspector
// shows it.
func (r *bodyRedactor) redactString(ro role, key, s string) string {
	quote := strconv.Quote
	switch {
	case ro == roleDocument && key == "schemas" && knownURNs[s]:
		r.keep(s)
		return quote(s)
	case ro == roleOperation && key == "op" && slices.Contains([]string{"add", "remove", "replace"}, strings.ToLower(s)),
		ro == roleOperation && key == "method" && knownMethods[strings.ToUpper(s)]:
		r.keep(s)
		return quote(s)
	case ro == roleOperation && key == "path" && strings.HasPrefix(s, "/"):
		return quote(RedactURLPath(s))
	case ro == roleOperation && key == "path":
		p, kept := scim.RedactPatchPath(s)
		for _, k := range kept {
			r.keep(k)
		}
		return quote(p)
	case ro == roleDocument && (key == "filter" || key == "attributes" || key == "excludedattributes" || key == "sortby"):
		var kept []string
		p := redactParam(key, s, &kept)
		for _, k := range kept {
			r.keep(k)
		}
		return quote(p)
	}
	return scim.RedactValue(s)
}

// object reads and writes the members of an object whose '{' was read.
func (r *bodyRedactor) object(ro role) error {
	r.write("{")
	for n := 0; ; n++ {
		tok, err := r.dec.Token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			r.write("}")
			return nil
		}
		k, ok := tok.(string)
		if !ok {
			return fmt.Errorf("unexpected %v", tok)
		}
		if n > 0 {
			r.write(",")
		}
		if scim.IsAttrPath(k) {
			r.keep(k)
			r.write(strconv.Quote(k) + ":")
		} else {
			r.write(scim.RedactValue(k) + ":")
		}
		lk := strings.ToLower(k)
		if err := r.value(childRole(ro, lk), lk); err != nil {
			return err
		}
	}
}

// childRole returns the role of the value under key (lower case) of an
// object of role ro: the protocol keys keep theirs, everything else is
// data.
func childRole(ro role, key string) role {
	switch ro {
	case roleDocument:
		switch key {
		case "operations":
			return roleOperation // each element of the array
		case "schemas", "filter", "attributes", "excludedattributes", "sortby":
			return roleDocument
		}
	case roleOperation:
		switch key {
		case "op", "method", "path":
			return roleOperation
		case "data":
			return roleDocument // a Bulk operation's body
		}
	}
	return roleData
}

// array reads and writes the elements of an array whose '[' was read,
// found under key.
func (r *bodyRedactor) array(ro role, key string) error {
	elem := roleData
	switch {
	case ro == roleOperation && key == "operations":
		elem = roleOperation
	case ro == roleDocument && (key == "schemas" || key == "attributes" || key == "excludedattributes"):
		elem = roleDocument
	}
	r.write("[")
	for n := 0; ; n++ {
		if !r.dec.More() {
			if _, err := r.dec.Token(); err != nil { // ']'
				return err
			}
			if n > maxShownElements {
				r.quiet--
				r.write(fmt.Sprintf(",…(+%d)", n-maxShownElements))
			}
			r.write("]")
			return nil
		}
		if n > 0 && n < maxShownElements {
			r.write(",")
		}
		if n == maxShownElements {
			r.quiet++
		}
		if err := r.value(elem, key); err != nil {
			return err
		}
	}
}

// quotedPattern finds the double- or single-quoted parts of an error
// detail, where the server quotes what the client sent.
var quotedPattern = regexp.MustCompile(`"(?:[^"\\]|\\.)*"?|\B'[^']*'`)

// emailPattern finds unquoted email addresses, should a detail hold one.
var emailPattern = regexp.MustCompile(`[^\s"'<>@,;()\[\]/?&=]+@[^\s"'<>@,;()\[\]/?&=]+`)

// Details that end with what the client sent, unquoted.
const (
	detailBadFilter = "filter does not parse: "
	detailNoRoute   = "no SCIM endpoint at "
)

// RedactDetail returns detail, a SCIM error detail, with every quoted part
// replaced by its length unless it is one of names (attribute paths the
// redacted request shows anyway) or a part of one ("created" of
// meta.created), an unparseable filter or unknown path the detail repeats
// redacted as such, and unquoted email addresses replaced by their length.
func RedactDetail(detail string, names []string) string {
	if rest, ok := strings.CutPrefix(detail, detailBadFilter); ok {
		f, _ := scim.RedactFilter(rest)
		return detailBadFilter + f
	}
	if rest, ok := strings.CutPrefix(detail, detailNoRoute); ok {
		return detailNoRoute + RedactURLPath(rest)
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
		if i := strings.LastIndexByte(n, ':'); i >= 0 {
			n = n[i+1:] // the attribute behind a schema URN
		}
		for _, part := range strings.Split(n, ".") {
			known[part] = true
		}
	}
	detail = quotedPattern.ReplaceAllStringFunc(detail, func(q string) string {
		inner := q[1:]
		if len(inner) > 0 && inner[len(inner)-1] == q[0] {
			inner = inner[:len(inner)-1]
		}
		if q[0] == '"' {
			if u, err := strconv.Unquote(q); err == nil {
				inner = u
			}
		}
		switch {
		case known[inner]:
			return q
		case q[0] == '\'':
			return "'…'" + strings.TrimPrefix(scim.RedactValue(inner), `"…"`)
		}
		return scim.RedactValue(inner)
	})
	return emailPattern.ReplaceAllStringFunc(detail, scim.RedactText)
}
