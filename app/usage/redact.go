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
	"strings"
	"unicode/utf8"
)

// The request inspector shows what an identity provider sent without the
// personal data in it. Redaction denies by default: every string value of a
// body is replaced by its shape (Shape) except the values of the keys below,
// which describe a request rather than a person, and values that are
// resource ids (UUIDs) or booleans written as strings ("True", as Entra ID
// sends them). Numbers, booleans and null stay as they are. Quoted literals
// in filters and PATCH paths are shaped too, except those compared with a
// "type" attribute (emails[type eq "work"]).
var verbatimKeys = map[string]bool{
	"schemas": true, "op": true, "type": true, "primary": true, "active": true,
	"resourcetype": true, "method": true, "bulkid": true, "version": true, "id": true,
	"sortby": true, "sortorder": true, "attributes": true, "excludedattributes": true,
	"startindex": true, "count": true, "failonerrors": true,
}

// shapedKeys hold filters and attribute paths: their quoted literals are
// shaped, the rest is kept.
var shapedKeys = map[string]bool{"filter": true, "path": true}

// Shape describes s without revealing it: an email address keeps the first
// letter of its local part and domain and its top-level domain
// ("a***@e***.com"); any other string becomes its length ("<string:12>").
func Shape(s string) string {
	if local, domain, ok := strings.Cut(s, "@"); ok && local != "" && domain != "" && !strings.ContainsAny(s, " \t\n") {
		first := func(p string) string {
			r, _ := utf8.DecodeRuneInString(p)
			return string(r) + "***"
		}
		shaped := first(local) + "@" + first(domain)
		if i := strings.LastIndexByte(domain, '.'); i > 0 && i < len(domain)-1 {
			shaped += domain[i:]
		}
		return shaped
	}
	return fmt.Sprintf("<string:%d>", utf8.RuneCountInString(s))
}

var (
	uuidPattern  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	emailPattern = regexp.MustCompile(`[^\s"'<>@,;()\[\]/?&=]+@[^\s"'<>@,;()\[\]/?&=]+`)
	// literalPattern finds `attr op "literal"` in a filter or a path.
	literalPattern = regexp.MustCompile(`([A-Za-z0-9_.:$-]*)(\s+(?i:eq|ne|co|sw|ew|gt|ge|lt|le)\s+)"((?:[^"\\]|\\.)*)"`)
)

// keepString reports whether a string value of the given key may be shown.
func keepString(key, v string) bool {
	return verbatimKeys[key] || uuidPattern.MatchString(v) || strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
}

// normKey lower-cases a key and drops a schema URN before it
// ("urn:…:User:userName" becomes "username").
func normKey(k string) string {
	if i := strings.LastIndexByte(k, ':'); i >= 0 {
		k = k[i+1:]
	}
	return strings.ToLower(k)
}

// shapeLiterals shapes the quoted literals of a filter or path, adding the
// originals to hidden.
func shapeLiterals(s string, hidden *[]string) string {
	return literalPattern.ReplaceAllStringFunc(s, func(m string) string {
		g := literalPattern.FindStringSubmatch(m)
		if strings.EqualFold(normKey(g[1]), "type") || g[3] == "" {
			return m
		}
		*hidden = append(*hidden, g[3])
		return g[1] + g[2] + `"` + Shape(g[3]) + `"`
	})
}

// RedactBody returns body, a JSON document, with personal data replaced by
// its shape, compact and with its keys in their original order, and the
// values it hid, for RedactText. A body that is not JSON is described by
// its size alone; so is one cut short at the capture limit.
func RedactBody(body []byte, truncated bool) (string, []string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	if truncated {
		return fmt.Sprintf("<body larger than %d bytes: not kept>", len(body)), nil
	}
	var (
		out    strings.Builder
		hidden []string
		stack  []frame
	)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var scratch bytes.Buffer
	enc := json.NewEncoder(&scratch)
	enc.SetEscapeHTML(false) // keep <string:7> readable
	writeJSON := func(v any) {
		scratch.Reset()
		_ = enc.Encode(v)
		out.Write(bytes.TrimSuffix(scratch.Bytes(), []byte("\n")))
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Sprintf("<not valid JSON: %d bytes>", len(body)), nil
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if tok == json.Delim('}') {
				out.WriteByte('}')
				stack = stack[:len(stack)-1]
				continue
			}
			k, _ := tok.(string)
			if top.n > 0 {
				out.WriteByte(',')
			}
			writeJSON(k)
			out.WriteByte(':')
			top.key, top.expectKey = k, false
			continue
		}
		if tok == json.Delim(']') {
			out.WriteByte(']')
			stack = stack[:len(stack)-1]
			continue
		}
		key := ""
		if top != nil {
			if !top.object && top.n > 0 {
				out.WriteByte(',')
			}
			top.n++
			top.expectKey = top.object
			key = normKey(top.key)
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			out.WriteString(v.String())
			stack = append(stack, frame{object: v == '{', key: keyOf(top), expectKey: v == '{'})
		case string:
			switch {
			case shapedKeys[key]:
				writeJSON(shapeLiterals(v, &hidden))
			case keepString(key, v):
				writeJSON(v)
			default:
				hidden = append(hidden, v)
				writeJSON(Shape(v))
			}
		default: // json.Number, bool, nil
			writeJSON(v)
		}
	}
	return out.String(), hidden
}

// frame is an object or array being redacted.
type frame struct {
	object    bool
	key       string // the current key of an object; an array inherits its parent's
	n         int    // values written
	expectKey bool
}

func keyOf(f *frame) string {
	if f == nil {
		return ""
	}
	return f.key
}

// RedactText replaces in s every value of hidden and anything shaped like
// an email address with its shape. It is for error details, which may quote
// what the client sent ("userName \"bjensen\" is already taken").
func RedactText(s string, hidden []string) string {
	hidden = slices.Clone(hidden)
	slices.SortFunc(hidden, func(a, b string) int { return len(b) - len(a) })
	for _, h := range hidden {
		if len(h) >= 2 {
			s = strings.ReplaceAll(s, h, Shape(h))
		}
	}
	return emailPattern.ReplaceAllStringFunc(s, Shape)
}

// RedactRequestURI returns a request's path and query for display,
// unescaped, with filter literals, email-like path segments and values of
// unknown query parameters shaped.
func RedactRequestURI(path, rawQuery string, hidden []string) string {
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	path = RedactText(path, hidden)
	if rawQuery == "" {
		return path
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return path + "?<unparseable query>"
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			switch nk := normKey(k); {
			case shapedKeys[nk]:
				v = shapeLiterals(v, &hidden)
			case !keepString(nk, v):
				v = Shape(v)
			}
			parts = append(parts, k+"="+v)
		}
	}
	return path + "?" + strings.Join(parts, "&")
}
