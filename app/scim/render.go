package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// A resource read for display (ReadResource, FindResources) keeps its
// attributes as PostgreSQL returned them, jsonb text, and AppendJSON writes
// the response from that text without decoding it into maps: the same
// bytes as json.Marshal(p.Apply(r.Render(baseURL))), the general path,
// which stays the definition of the output.
//
// The text cannot be copied as it is: jsonb orders keys by length and
// spaces them, where json.Marshal sorts them by bytes, escapes <, > and &
// and writes numbers as float64 formats them. So the stored renderer below
// walks the text as Apply walks the maps (same structure, and the same
// rules: selected, subSelected, findAttr, schemaByURN), sorts each object's
// members, copies strings that need no escaping as they are, and gives
// what it does not reproduce exactly to encoding/json (strings with escapes
// or characters json.Marshal escapes) or to the general path (duplicate
// keys, numbers outside float64, text that is not a JSON object), which it
// counts (Fallbacks). FuzzStoredRender compares the two on arbitrary
// objects.

// fallbacks counts the renders that took the general path for want of
// the stored renderer.
var fallbacks atomic.Int64

// Fallbacks returns how many resources read for display were rendered
// through the general path (decoded, then encoded) since the process
// started, because the stored renderer does not reproduce their text
// exactly. What Bulkhead writes is not expected to need it
// (TestReadShowsWhatTheWriteReturned counts none).
func Fallbacks() int64 { return fallbacks.Load() }

// ReadResource is FindResource for a reader that only shows the resource:
// its attributes stay as stored, for AppendJSON, until Attributes decodes
// them.
func ReadResource(ctx context.Context, q sqlx.QueryerContext, rt *ResourceType, id string, withMembers bool) (*Resource, error) {
	return findResource(ctx, q, rt, id, withMembers, false)
}

// Attributes returns r's attributes, decoding them if r holds them as
// stored (read by ReadResource or FindResources); the decoded map is kept. It fails only for stored text that is not a JSON object.
func (r *Resource) Attributes() (map[string]any, error) {
	if r.data == nil && r.stored != nil {
		if err := json.Unmarshal(r.stored, &r.data); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", r.Type.Name, r.ID, err)
		}
	}
	return r.data, nil
}

// AppendJSON appends to dst the JSON of r as a response shows it, projected
// by p: the bytes of json.Marshal(p.Apply(r.Render(baseURL))). A resource
// that holds its attributes as stored is rendered from that text.
func (r *Resource) AppendJSON(dst []byte, baseURL string, p Projection) ([]byte, error) {
	if r.data == nil && r.stored != nil {
		// The response is about as long as the text, with meta and
		// memberships added.
		dst = slices.Grow(dst, len(r.stored)+512+len(r.Members)*(len(baseURL)+128))
		w := renderers.Get().(*renderer)
		out, ok := w.resource(dst, r, baseURL, p)
		renderers.Put(w)
		if ok {
			return out, nil
		}
		fallbacks.Add(1)
	}
	data, err := r.Attributes()
	if err != nil {
		return dst, err
	}
	b, err := json.Marshal(p.Apply(r.render(data, baseURL)))
	if err != nil {
		return dst, fmt.Errorf("encode %s %s: %w", r.Type.Name, r.ID, err)
	}
	return append(dst, b...), nil
}

var renderers = sync.Pool{New: func() any { return new(renderer) }}

// A renderer writes stored resources. Its buffers are reused from one
// resource to the next.
type renderer struct {
	members []member // the members of the objects being written, innermost last
	own     []byte   // the JSON of the attributes the server adds: schemas, id, meta, memberships
	depth   int      // how deep value is in values it writes
}

// maxDepth is how deeply nested a value the stored renderer writes: what
// Bulkhead stores is a few levels deep; deeper goes to the general path,
// so that rescanning each level's text stays linear.
const maxDepth = 32

// member is one member of a JSON object: its key, decoded, the key as
// written (the text between the quotes; for a key the renderer adds, the
// key itself, which needs no escaping), and its value's text. Keys stay
// []byte: converted where they are compared, they cost no allocation.
type member struct {
	key   []byte
	raw   []byte
	value []byte
}

// The keys Render adds.
var keySchemas, keyID, keyMeta, keyGroups, keyMembers = []byte("schemas"), []byte("id"), []byte("meta"), []byte("groups"), []byte("members")

// resource writes r, projected by p, as AppendJSON does; ok false when the
// stored text holds something it does not reproduce exactly. It mirrors
// Render, then Apply.
func (w *renderer) resource(dst []byte, r *Resource, baseURL string, p Projection) (_ []byte, ok bool) {
	w.members, w.depth = w.members[:0], 0
	defer func() { clear(w.members[:cap(w.members)]) }() // no hold on r.stored from the pool
	first, last, ok := w.collect(r.stored)
	if !ok {
		return dst, false
	}
	// What Render adds replaces what the stored attributes might hold
	// under the same keys.
	memberships := ""
	if len(r.Members) > 0 {
		memberships = r.Type.MembershipsAttr()
	}
	kept := first
	for i := first; i < last; i++ {
		switch m := w.members[i]; string(m.key) {
		case "schemas", "id", "meta":
		default:
			if memberships == "" || string(m.key) != memberships {
				w.members[kept] = m
				kept++
			}
		}
	}
	w.members = w.members[:kept]
	var ends [4]int
	w.own, ends = w.ownJSON(w.own[:0], r, baseURL, first, kept)
	keys := [...][]byte{keySchemas, keyID, keyMeta, keyGroups}
	if memberships == "members" {
		keys[3] = keyMembers
	}
	start := 0
	for i, key := range keys {
		if ends[i] > start {
			w.members = append(w.members, member{key: key, raw: key, value: w.own[start:ends[i]]})
			start = ends[i]
		}
	}
	last = len(w.members)
	if !sortMembers(w.members[first:last]) {
		return dst, false
	}

	// Apply
	core := p.rt.attrsOf(p.rt.core)
	dst = append(dst, '{')
	open := len(dst)
	for i := first; i < last; i++ {
		m := w.members[i]
		mark := len(dst)
		if mark > open {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, m)
		valueAt := len(dst)
		if string(m.key) == "schemas" {
			dst, ok = w.value(dst, m.value)
		} else if s := p.rt.extensionOf(m.key); s != nil {
			if m.value[0] == '{' {
				dst, ok = w.object(dst, p, s, s.Attributes, m.value)
			}
		} else if a := findAttr(core, string(m.key)); a != nil {
			dst, ok = w.attr(dst, p, AttrPath{Schema: p.rt.core, Attr: a}, m.value)
		}
		if !ok {
			return dst, false
		}
		if len(dst) == valueAt { // nothing of it is returned
			dst = dst[:mark]
		}
	}
	w.members = w.members[:first]
	return append(dst, '}'), true
}

// extensionOf returns the extension schema of rt whose URN is key, ignoring
// case: schemaByURN(string(key)) less the core schema, without the copy
// that converting a key as long as a URN takes.
func (rt *ResourceType) extensionOf(key []byte) *Schema {
	for _, s := range rt.extensions {
		if bytes.EqualFold(key, []byte(s.ID)) {
			return s
		}
	}
	return nil
}

// ownJSON appends the values Render adds to r's stored attributes: schemas
// (with the extensions whose URN is a key of the stored members first to
// last), id, meta and, when r has members, its memberships, one after the
// other; ends tells where each ends in dst (none: no memberships).
func (w *renderer) ownJSON(dst []byte, r *Resource, baseURL string, first, last int) (_ []byte, ends [4]int) {
	dst = append(dst, '[')
	dst = appendString(dst, r.Type.Schema)
	for _, ext := range r.Type.SchemaExtensions {
		for _, m := range w.members[first:last] {
			if string(m.key) == ext.Schema {
				dst = appendString(append(dst, ','), ext.Schema)
				break
			}
		}
	}
	dst = append(dst, ']')
	ends[0] = len(dst)
	dst = appendString(dst, r.ID)
	ends[1] = len(dst)
	dst = append(dst, `{"resourceType":`...)
	dst = appendString(dst, r.Type.Name)
	dst = append(dst, `,"created":"`...)
	dst = r.Created.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","lastModified":"`...)
	dst = r.LastModified.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","location":`...)
	dst = appendString(dst, baseURL, r.Type.Endpoint, "/", r.ID)
	// r.ETag(), W/"<version>", written as a JSON string
	dst = append(dst, `,"version":"W/\"`...)
	dst = strconv.AppendInt(dst, r.Version, 10)
	dst = append(dst, `\""}`...)
	ends[2], ends[3] = len(dst), len(dst)
	if len(r.Members) == 0 {
		return dst, ends
	}
	dst = append(dst, '[')
	for i, m := range r.Members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"value":`...)
		dst = appendString(dst, m.Value)
		dst = append(dst, `,"type":`...)
		dst = appendString(dst, m.Type)
		if m.Display != nil {
			dst = append(dst, `,"display":`...)
			dst = appendString(dst, *m.Display)
		}
		endpoint := "/Groups/"
		if m.Type == "User" {
			endpoint = "/Users/"
		}
		dst = append(dst, `,"$ref":`...)
		dst = appendString(dst, baseURL, endpoint, m.Value)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	ends[3] = len(dst)
	return dst, ends
}

// object writes the attributes of schema s that p returns from obj, the
// text of a JSON object, as Projection.object does; nothing if none.
func (w *renderer) object(dst []byte, p Projection, s *Schema, attrs []*Attribute, obj []byte) (_ []byte, ok bool) {
	first, last, ok := w.sorted(obj)
	if !ok {
		return dst, false
	}
	defer func() { w.members = w.members[:first] }()
	start := len(dst)
	dst = append(dst, '{')
	for i := first; i < last; i++ {
		m := w.members[i]
		a := findAttr(attrs, string(m.key))
		if a == nil {
			continue
		}
		mark := len(dst)
		if mark > start+1 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, m)
		valueAt := len(dst)
		if dst, ok = w.attr(dst, p, AttrPath{Schema: s, Attr: a}, m.value); !ok {
			return dst, false
		}
		if len(dst) == valueAt {
			dst = dst[:mark]
		}
	}
	if len(dst) == start+1 {
		return dst[:start], true
	}
	return append(dst, '}'), true
}

// attr writes v, the value of the top-level attribute path, as p returns
// it (Projection.value); nothing if p drops it.
func (w *renderer) attr(dst []byte, p Projection, path AttrPath, v []byte) (_ []byte, ok bool) {
	keep, whole := p.selected(path)
	if !keep {
		return dst, true
	}
	if path.Attr.Type != TypeComplex {
		return w.value(dst, v)
	}
	switch v[0] {
	case '{':
		return w.subs(dst, p, path, v, whole)
	case '[':
		start := len(dst)
		dst = append(dst, '[')
		for i := 1; ; {
			e, next, ok := element(v, i)
			if !ok {
				return dst, false
			}
			if e == nil {
				break
			}
			i = next
			if e[0] != '{' {
				continue
			}
			mark := len(dst)
			if mark > start+1 {
				dst = append(dst, ',')
			}
			valueAt := len(dst)
			if dst, ok = w.subs(dst, p, path, e, whole); !ok {
				return dst, false
			}
			if len(dst) == valueAt {
				dst = dst[:mark]
			}
		}
		if len(dst) == start+1 {
			return dst[:start], true
		}
		return append(dst, ']'), true
	}
	return dst, true
}

// subs writes the sub-attributes of obj, one value of the complex
// attribute path, that p returns (Projection.subs); nothing if none.
func (w *renderer) subs(dst []byte, p Projection, path AttrPath, obj []byte, whole bool) (_ []byte, ok bool) {
	first, last, ok := w.sorted(obj)
	if !ok {
		return dst, false
	}
	defer func() { w.members = w.members[:first] }()
	start := len(dst)
	dst = append(dst, '{')
	for i := first; i < last; i++ {
		m := w.members[i]
		sub := path
		if sub.Sub = path.Attr.Sub(string(m.key)); sub.Sub == nil || !p.subSelected(sub, whole) {
			continue
		}
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		if dst, ok = w.value(appendKey(dst, m), m.value); !ok {
			return dst, false
		}
	}
	if len(dst) == start+1 {
		return dst[:start], true
	}
	return append(dst, '}'), true
}

// value writes the JSON value v as json.Marshal writes it once decoded
// into an any: objects with sorted keys, no spaces, strings escaped as
// encoding/json escapes them, numbers as float64s.
func (w *renderer) value(dst []byte, v []byte) (_ []byte, ok bool) {
	if v[0] == '{' || v[0] == '[' {
		if w.depth++; w.depth > maxDepth {
			return dst, false
		}
		defer func() { w.depth-- }()
	}
	switch v[0] {
	case '{':
		first, last, ok := w.sorted(v)
		if !ok {
			return dst, false
		}
		dst = append(dst, '{')
		for i := first; i < last; i++ {
			m := w.members[i]
			if i > first {
				dst = append(dst, ',')
			}
			if dst, ok = w.value(appendKey(dst, m), m.value); !ok {
				return dst, false
			}
		}
		w.members = w.members[:first]
		return append(dst, '}'), true
	case '[':
		dst = append(dst, '[')
		for i, n := 1, 0; ; n++ {
			e, next, ok := element(v, i)
			if !ok {
				return dst, false
			}
			if e == nil {
				break
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = w.value(dst, e); !ok {
				return dst, false
			}
			i = next
		}
		return append(dst, ']'), true
	case '"':
		return appendStringText(dst, v[1:len(v)-1])
	case 't', 'f', 'n':
		return append(dst, v...), true
	}
	return appendNumber(dst, v)
}

// sorted collects the members of the JSON object obj onto w.members,
// sorted by key as json.Marshal sorts a map's; ok false for duplicate
// keys, which decoding into a map would have merged.
func (w *renderer) sorted(obj []byte) (first, last int, ok bool) {
	if first, last, ok = w.collect(obj); !ok {
		return first, last, false
	}
	if !sortMembers(w.members[first:last]) {
		w.members = w.members[:first]
		return first, last, false
	}
	return first, last, true
}

// sortMembers sorts ms by key; false if two keys are the same.
func sortMembers(ms []member) bool {
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i].key, ms[i-1].key) {
			return false
		}
	}
	return true
}

// collect appends the members of the JSON object obj to w.members, in the
// order written; ok false if obj is not an object.
func (w *renderer) collect(obj []byte) (first, last int, ok bool) {
	first = len(w.members)
	i := skipSpace(obj, 0)
	if i == len(obj) || obj[i] != '{' {
		return first, first, false
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return first, first, skipSpace(obj, i+1) == len(obj)
	}
	for {
		if i == len(obj) || obj[i] != '"' {
			break
		}
		end, ok := quoteEnd(obj, i)
		if !ok {
			break
		}
		raw := obj[i+1 : end-1]
		key, ok := keyOf(raw)
		if !ok {
			break
		}
		if i = skipSpace(obj, end); i == len(obj) || obj[i] != ':' {
			break
		}
		i = skipSpace(obj, i+1)
		if end, ok = valueEnd(obj, i); !ok {
			break
		}
		w.members = append(w.members, member{key: key, raw: raw, value: obj[i:end]})
		if i = skipSpace(obj, end); i == len(obj) {
			break
		}
		if obj[i] == '}' {
			return first, len(w.members), skipSpace(obj, i+1) == len(obj)
		}
		if obj[i] != ',' {
			break
		}
		i = skipSpace(obj, i+1)
	}
	w.members = w.members[:first]
	return first, first, false
}

// element returns the array element that starts at or after i in arr, the
// text of a JSON array, and where the next one starts; e nil at the end.
func element(arr []byte, i int) (e []byte, next int, ok bool) {
	i = skipSpace(arr, i)
	if i == len(arr) {
		return nil, i, false
	}
	if arr[i] == ']' {
		return nil, i, true
	}
	end, ok := valueEnd(arr, i)
	if !ok {
		return nil, i, false
	}
	next = skipSpace(arr, end)
	if next < len(arr) && arr[next] == ',' {
		next++
	} else if next == len(arr) || arr[next] != ']' {
		return nil, i, false
	}
	return arr[i:end], next, true
}

// valueEnd returns the end of the JSON value that starts at i in text; ok
// false also for a number json.Unmarshal refuses, even one the projection
// drops, since the general path decodes everything.
func valueEnd(text []byte, i int) (int, bool) {
	if i >= len(text) {
		return i, false
	}
	switch text[i] {
	case '"':
		return quoteEnd(text, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(text); j++ {
			switch text[j] {
			case '"':
				end, ok := quoteEnd(text, j)
				if !ok {
					return j, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				end, ok := scalarEnd(text, j)
				if !ok {
					return j, false
				}
				j = end - 1
			}
		}
		return len(text), false
	}
	return scalarEnd(text, i)
}

// scalarEnd returns the end of the number, true, false or null that starts
// at i in text; ok false for a number beyond float64's range.
func scalarEnd(text []byte, i int) (int, bool) {
	j, exp := i, false
	for ; j < len(text) && strings.IndexByte("-+.eE0123456789truefalsn", text[j]) >= 0; j++ {
		exp = exp || text[j] == 'e' || text[j] == 'E'
	}
	if (exp || j-i > 300) && text[i] != 't' && text[i] != 'f' && text[i] != 'n' {
		if _, err := strconv.ParseFloat(string(text[i:j]), 64); err != nil {
			return j, false
		}
	}
	return j, j > i
}

// quoteEnd returns the end of the JSON string whose opening quote is at i,
// just after its closing quote.
func quoteEnd(text []byte, i int) (int, bool) {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(text), false
}

func skipSpace(text []byte, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r') {
		i++
	}
	return i
}

// keyOf returns the decoded key whose text between the quotes is raw.
func keyOf(raw []byte) ([]byte, bool) {
	if plain(raw) {
		return raw, true
	}
	var key string
	err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &key)
	return []byte(key), err == nil
}

// appendKey writes the member's key and the colon after it.
func appendKey(dst []byte, m member) []byte {
	if m.raw != nil && safe(m.raw) { // then it is also the key, decoded
		dst = append(append(append(dst, '"'), m.raw...), '"')
	} else {
		dst = appendString(dst, string(m.key))
	}
	return append(dst, ':')
}

// appendStringText writes the JSON string whose text between the quotes is
// raw as json.Marshal writes it once decoded.
func appendStringText(dst, raw []byte) ([]byte, bool) {
	if safe(raw) {
		return append(append(append(dst, '"'), raw...), '"'), true
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return dst, false
	}
	return appendString(dst, s), true
}

// appendString writes the string made of parts as json.Marshal writes a
// string: " and \ with a backslash before them, as it does; for the other
// characters it escapes, it writes the string itself.
func appendString(dst []byte, parts ...string) []byte {
	start := len(dst)
	dst = append(dst, '"')
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&':
				b, _ := json.Marshal(strings.Join(parts, "")) // a string always encodes
				return append(dst[:start], b...)
			default:
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// plain reports whether raw, the text of a JSON string between its quotes,
// is the string itself: no escapes, valid UTF-8.
func plain(raw []byte) bool {
	p, _ := scanText(raw)
	return p
}

// safe reports whether json.Marshal writes the string whose text between
// the quotes is raw as it is: plain but for \" and \\, which it writes
// so too, and none of <, >, &, U+2028, U+2029, which it escapes.
func safe(raw []byte) bool {
	_, s := scanText(raw)
	return s
}

// scanText reads raw, the text of a JSON string between its quotes, for
// plain and safe.
func scanText(raw []byte) (plain, safe bool) {
	plain, safe = true, true
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\' && i+1 < len(raw) && (raw[i+1] == '"' || raw[i+1] == '\\'):
				plain = false
				i++
			case c < 0x20 || c == '\\' || c == '"':
				return false, false
			case c == '<' || c == '>' || c == '&':
				safe = false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			return false, false
		}
		safe = safe && r != '\u2028' && r != '\u2029'
		i += n
	}
	return plain, safe
}

// appendNumber writes the JSON number text as json.Marshal writes the
// float64 json.Unmarshal decodes it into; ok false when it is not one
// (json.Unmarshal fails on numbers beyond float64's range).
func appendNumber(dst, text []byte) ([]byte, bool) {
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	// As encoding/json's floatEncoder writes a float64.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}
