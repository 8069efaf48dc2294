package web

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
)

// maxJSONDepth bounds how deeply request bodies may nest. SCIM resources
// nest three levels; PATCH and Bulk bodies a few more.
const maxJSONDepth = 32

// checkJSON refuses, with 400 invalidSyntax, request bodies that a JSON
// decoder would accept but that no SCIM client means: invalid UTF-8 (the
// decoder would silently replace it), a key given twice in one object (the
// decoder would keep the last), NUL characters (PostgreSQL cannot store
// them), and nesting deeper than maxJSONDepth.
//
// It walks the body once, byte by byte, from left to right, as
// json.Decoder.Token would (an earlier version used it, at a cost of
// several allocations per token: a Bulk body of 1,000 users spent more in
// this check than in decoding it), and refuses at the first of those it
// meets. Malformed JSON it leaves to the decoder that follows, which says
// what is wrong: on the first byte that is not JSON it stops and accepts,
// so that what it refuses is what it met before that byte
// (FuzzCheckJSONAsTokens holds it to the Token walk).
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return jsonSyntax("the request body is not valid UTF-8")
	}
	c := jsonChecker{b: body}
	for {
		c.space()
		if c.i >= len(c.b) {
			return nil
		}
		// A stream of values, as the decoder's Token reads it: data after
		// the first is the decoder's to refuse, but what the walk meets
		// in it before that is refused here.
		if ok, err := c.value(0); !ok || err != nil {
			return err
		}
	}
}

func jsonSyntax(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, format, args...)
}

// jsonChecker is the walk of checkJSON over b, at i. keys holds the keys
// of the objects open, each object's after those of the one enclosing it.
type jsonChecker struct {
	b    []byte
	i    int
	keys [][]byte
}

func (c *jsonChecker) space() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// value walks one value inside depth open arrays and objects. ok is false
// where the JSON is malformed; err is what checkJSON refuses.
func (c *jsonChecker) value(depth int) (ok bool, err error) {
	if c.i >= len(c.b) {
		return false, nil
	}
	switch ch := c.b[c.i]; {
	case ch == '{' || ch == '[':
		if depth+1 > maxJSONDepth {
			return false, jsonSyntax("the request body nests deeper than %d levels", maxJSONDepth)
		}
		c.i++
		if ch == '{' {
			return c.object(depth + 1)
		}
		return c.array(depth + 1)
	case ch == '"':
		_, _, nul, ok := c.str()
		if ok && nul {
			return false, jsonSyntax("strings in the request body cannot contain NUL characters")
		}
		return ok, nil
	case ch == '-' || '0' <= ch && ch <= '9':
		return c.number(), nil
	case ch == 't':
		return c.literal("true"), nil
	case ch == 'f':
		return c.literal("false"), nil
	case ch == 'n':
		return c.literal("null"), nil
	}
	return false, nil
}

// object walks an object's members, after its '{'.
func (c *jsonChecker) object(depth int) (bool, error) {
	start := len(c.keys)
	var many map[string]bool // the keys, once there are too many to compare one by one
	c.space()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return true, nil
	}
	for {
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return false, nil
		}
		from := c.i
		raw, escaped, nul, ok := c.str()
		if !ok {
			return false, nil
		}
		if nul {
			return false, jsonSyntax("keys in the request body cannot contain NUL characters")
		}
		key := raw
		if escaped {
			var s string
			if err := json.Unmarshal(c.b[from:c.i], &s); err != nil {
				return false, nil
			}
			key = []byte(s)
		}
		dup := false
		if many != nil {
			dup = many[string(key)]
			many[string(key)] = true
		} else {
			for _, k := range c.keys[start:] {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			c.keys = append(c.keys, key)
			if len(c.keys)-start > 16 {
				many = make(map[string]bool, 32)
				for _, k := range c.keys[start:] {
					many[string(k)] = true
				}
			}
		}
		if dup {
			return false, jsonSyntax("the key %q appears twice in one object", truncateKey(string(key)))
		}
		c.space()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return false, nil
		}
		c.i++
		c.space()
		if ok, err := c.value(depth); !ok || err != nil {
			return false, err
		}
		c.space()
		if c.i >= len(c.b) {
			return false, nil
		}
		switch c.b[c.i] {
		case ',':
			c.i++
			c.space()
		case '}':
			c.i++
			c.keys = c.keys[:start]
			return true, nil
		default:
			return false, nil
		}
	}
}

// array walks an array's elements, after its '['.
func (c *jsonChecker) array(depth int) (bool, error) {
	c.space()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true, nil
	}
	for {
		if ok, err := c.value(depth); !ok || err != nil {
			return false, err
		}
		c.space()
		if c.i >= len(c.b) {
			return false, nil
		}
		switch c.b[c.i] {
		case ',':
			c.i++
			c.space()
		case ']':
			c.i++
			return true, nil
		default:
			return false, nil
		}
	}
}

// str walks a string, from its opening quote to past its closing one, and
// returns the bytes between them, whether they hold an escape, and
// whether one of those is a NUL (\u0000).
func (c *jsonChecker) str() (raw []byte, escaped, nul, ok bool) {
	c.i++
	from := c.i
	for c.i < len(c.b) {
		switch ch := c.b[c.i]; {
		case ch == '"':
			raw = c.b[from:c.i]
			c.i++
			return raw, escaped, nul, true
		case ch == '\\':
			escaped = true
			if c.i+1 >= len(c.b) {
				return nil, false, false, false
			}
			switch c.b[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.b) {
					return nil, false, false, false
				}
				v := 0
				for _, h := range c.b[c.i+2 : c.i+6] {
					switch {
					case '0' <= h && h <= '9':
						v = v<<4 | int(h-'0')
					case 'a' <= h && h <= 'f':
						v = v<<4 | int(h-'a'+10)
					case 'A' <= h && h <= 'F':
						v = v<<4 | int(h-'A'+10)
					default:
						return nil, false, false, false
					}
				}
				nul = nul || v == 0
				c.i += 6
			default:
				return nil, false, false, false
			}
		case ch < 0x20:
			return nil, false, false, false
		default:
			c.i++
		}
	}
	return nil, false, false, false
}

// number walks a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *jsonChecker) number() bool {
	if c.b[c.i] == '-' {
		c.i++
	}
	digits := func() bool {
		n := c.i
		for c.i < len(c.b) && '0' <= c.b[c.i] && c.b[c.i] <= '9' {
			c.i++
		}
		return c.i > n
	}
	switch {
	case c.i < len(c.b) && c.b[c.i] == '0':
		c.i++
	case !digits():
		return false
	}
	if c.i < len(c.b) && c.b[c.i] == '.' {
		c.i++
		if !digits() {
			return false
		}
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		if !digits() {
			return false
		}
	}
	return true
}

// literal walks the literal s (true, false or null).
func (c *jsonChecker) literal(s string) bool {
	if !bytes.HasPrefix(c.b[c.i:], []byte(s)) {
		return false
	}
	c.i += len(s)
	return true
}

func truncateKey(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
