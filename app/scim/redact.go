package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scim2/filter-parser/v2"
)

// The request inspector shows support staff what an identity provider sent
// without any value in it: attribute names and operators are schema, values
// are customer data. The functions below give the structure of filters and
// attribute paths, parsed with the same grammar CompileFilter uses, so that
// what counts as an attribute name here is exactly what the filter compiler
// would take as one.

// maxRedactedName bounds an attribute path kept by redaction: a longer one
// is no schema's attribute name.
const maxRedactedName = 200

// RedactValue returns a placeholder for v, a value decoded from JSON or a
// filter, that shows its kind and length but not v: "…"(12) for a string of
// 12 characters, #(3) for a number written with 3 characters, <bool> and
// <null>.
func RedactValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "<null>"
	case bool:
		return "<bool>"
	case string:
		return fmt.Sprintf(`"…"(%d)`, utf8.RuneCountInString(v))
	case json.Number:
		return fmt.Sprintf("#(%d)", len(v))
	case int, int32, int64, float32, float64:
		return fmt.Sprintf("#(%d)", len(fmt.Sprint(v)))
	}
	return "…"
}

// RedactText returns the placeholder of text that could not be parsed, so
// whose kind is unknown: …(7) for 7 characters.
func RedactText(s string) string {
	return fmt.Sprintf("…(%d)", utf8.RuneCountInString(s))
}

// IsAttrPath reports whether s is a well-formed attribute path of RFC 7644
// §3.10 (userName, name.givenName, an attribute behind a schema URN, $ref),
// which redaction may show: such a name carries no spaces, "@" or quotes.
func IsAttrPath(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || len(s) > maxRedactedName {
		return false
	}
	_, err := parseAttrPath(s)
	return err == nil
}

// RedactFilter returns expr, a SCIM filter, with its attribute paths,
// operators, logical words and brackets kept and every value replaced by
// its RedactValue, and the attribute paths it kept. Unquoted values
// (userName eq jdoe) are values too. When expr does not parse even with the
// rewrites CompileFilter tries, only the attribute paths and operators at
// the start that are certainly such are kept; the rest becomes one
// RedactText.
func RedactFilter(expr string) (string, []string) {
	if len(expr) <= MaxFilterLength && filterDepth(expr) <= MaxFilterDepth {
		e, err := parseFilter(expr)
		if err != nil {
			e, err = parseFilter(quoteBareValues(foldSubAttrFilters(expr)))
		}
		if err == nil {
			var r filterRedactor
			r.expr(e, "")
			return r.b.String(), r.names
		}
	}
	return redactUnparsed(expr)
}

// filterRedactor writes a parsed filter with its values replaced.
type filterRedactor struct {
	b     strings.Builder
	names []string
}

func (r *filterRedactor) path(p filter.AttributePath) {
	s := p.String()
	r.names = append(r.names, s)
	r.b.WriteString(s)
}

// expr writes e; parent is the logical operator e is an operand of, so that
// an operand of another operator gets its parentheses back.
func (r *filterRedactor) expr(e filter.Expression, parent filter.LogicalOperator) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		op := filter.LogicalOperator(strings.ToLower(string(e.Operator)))
		paren := parent != "" && parent != op
		if paren {
			r.b.WriteByte('(')
		}
		r.expr(e.Left, op)
		r.b.WriteString(" " + string(op) + " ")
		r.expr(e.Right, op)
		if paren {
			r.b.WriteByte(')')
		}
	case *filter.NotExpression:
		r.b.WriteString("not (")
		r.expr(e.Expression, "")
		r.b.WriteByte(')')
	case *filter.AttributeExpression:
		r.path(e.AttributePath)
		op := strings.ToLower(string(e.Operator))
		r.b.WriteString(" " + op)
		if op != string(filter.PR) {
			r.b.WriteString(" " + RedactValue(e.CompareValue))
		}
	case *filter.ValuePath:
		r.path(e.AttributePath)
		r.b.WriteByte('[')
		r.expr(e.ValueFilter, "")
		r.b.WriteByte(']')
	}
}

// redactUnparsed keeps of expr, which does not parse, the attribute paths
// followed by an operator, the operators, brackets and logical words, and
// the values' placeholders, for as long as it reads like a filter; from the
// first token that does not fit, the rest is one RedactText.
func redactUnparsed(expr string) (string, []string) {
	var (
		out   []string
		names []string
	)
	// next returns the token at i (a bracket, a quoted string or a word)
	// and where it ends, after skipping blanks.
	next := func(i int) (tok string, start, end int) {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t') {
			i++
		}
		switch {
		case i == len(expr):
			return "", i, i
		case strings.ContainsRune("()[]", rune(expr[i])):
			return expr[i : i+1], i, i + 1
		case expr[i] == '"':
			end := stringEnd(expr, i)
			return expr[i:end], i, end
		}
		j := i
		for j < len(expr) && !strings.ContainsRune(" \t()[]\"", rune(expr[j])) {
			j++
		}
		return expr[i:j], i, j
	}
	i, wantAttr := 0, true
	for {
		tok, start, end := next(i)
		if tok == "" {
			i = start
			break
		}
		w := strings.ToLower(tok)
		switch {
		case tok == "(" || tok == "[":
			wantAttr = true
		case tok == ")" || tok == "]":
			wantAttr = false
		case (w == "and" || w == "or") && !wantAttr, w == "not" && wantAttr:
			tok, wantAttr = w, true
		case wantAttr && IsAttrPath(tok):
			op, _, opEnd := next(end)
			if op = strings.ToLower(op); !isCompareOperator(op) {
				i = start
				goto rest
			}
			names = append(names, tok)
			out = append(out, tok, op)
			end, wantAttr = opEnd, false
			if op == string(filter.PR) {
				i = end
				continue
			}
			v, vStart, vEnd := next(end)
			switch {
			case v == "" || strings.Contains("()[]", v):
				i = vStart
				goto rest
			case v[0] == '"':
				tok = RedactValue(strings.TrimSuffix(v[1:], `"`))
			default:
				tok = RedactText(v)
				var lit any
				if json.Unmarshal([]byte(v), &lit) == nil {
					tok = RedactValue(lit) // true, false, null or a number
				}
			}
			end = vEnd
		default:
			i = start
			goto rest
		}
		out = append(out, tok)
		i = end
	}
rest:
	if rest := strings.TrimSpace(expr[i:]); rest != "" {
		out = append(out, RedactText(rest))
	}
	s := strings.Join(out, " ")
	for _, r := range [][2]string{{"( ", "("}, {" )", ")"}, {"[ ", "["}, {" ]", "]"}, {" [", "["}} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s, names
}

// isCompareOperator reports whether op, in lower case, is an operator of a
// SCIM filter.
func isCompareOperator(op string) bool {
	switch filter.CompareOperator(op) {
	case filter.PR, filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.GE, filter.LT, filter.LE:
		return true
	}
	return false
}

// RedactPatchPath returns path, the path of a PATCH operation (attrPath,
// or attrPath[valFilter] and an optional .subAttr), with its value filter
// redacted by RedactFilter, and the attribute paths it kept. A path that is
// not well-formed becomes a RedactText.
func RedactPatchPath(path string) (string, []string) {
	attrPart, valFilter, sub, bracket := path, "", "", false
	if i := strings.IndexByte(path, '['); i >= 0 {
		j := strings.LastIndexByte(path, ']')
		if j < i {
			return RedactText(path), nil
		}
		attrPart, valFilter, sub, bracket = path[:i], path[i+1:j], path[j+1:], true
	}
	if !IsAttrPath(attrPart) || (sub != "" && (len(sub) < 2 || sub[0] != '.' || !isAttrName(sub[1:]))) {
		return RedactText(path), nil
	}
	names := []string{attrPart}
	if !bracket {
		return attrPart, names
	}
	f, inner := RedactFilter(valFilter)
	if sub != "" {
		names = append(names, sub[1:])
	}
	return attrPart + "[" + f + "]" + sub, append(names, inner...)
}
