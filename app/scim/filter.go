package scim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/google/uuid"
	"github.com/scim2/filter-parser/v2"
)

// Limits on a filter, so that no request makes the parser or PostgreSQL
// work without bound. Real identity providers send short, flat filters of
// one or two comparisons (docs/scim.md lists what they send); the limits
// leave them ample room.
//
// Length alone does not bound the work: 4,096 characters hold 160 value
// filters, each a subquery PostgreSQL runs on its own. So a compiled filter
// is also bounded by what it costs: its comparisons (each evaluated for
// every row a scan reaches), its subqueries over multi-valued attributes
// (emails[...], emails.value co ...: value filters on one attribute joined
// by or are merged into one and count once), and its substring matches (co,
// sw, ew) that no index serves, each a scan of the table or a walk through
// every row's jsonb. Past a limit the filter is refused with invalidFilter
// (RFC 7644 §3.12: a filter comparison the server does not support), not
// tooMany, which is about how many results a filter yields.
const (
	MaxFilterLength = 4096
	MaxFilterDepth  = 32 // parentheses and brackets

	MaxFilterTerms      = 50 // comparisons and pr, inside brackets too
	MaxFilterSubqueries = 10 // EXISTS over multi-valued attributes, after merging
	MaxFilterScans      = 10 // co, sw, ew that no index serves
)

// CompileFilter compiles expr, a SCIM filter (RFC 7644 §3.4.2.2), into an SQL
// boolean expression over the tenant tables of rt (aliased by their bare
// names, users or groups) and the arguments it refers to. Placeholders start
// at $argOffset+1, so the caller can put arguments of its own first. Every
// value of the filter is an argument; the SQL text holds only names taken
// from the schema definitions.
//
// Operators, attribute names and schema URNs are matched case-insensitively.
// Strings compare case-insensitively unless the attribute is caseExact, with
// lower() on both sides so that the lower(...) indexes serve. "attr eq null"
// means attr is unassigned (not pr), "attr ne null" means attr pr. A
// comparison with an attribute a resource lacks is false, and not() of it
// is true.
//
// Tests of one multi-valued attribute joined by or (emails[value co "a"] or
// emails.value co "b") compile to one EXISTS whose condition ors theirs:
// some value matches the one or some value matches the other. Joined by
// and they stay apart, since emails[type eq "work"] and emails[value co
// "x"] may match on two different values.
//
// CompileFilter returns an *app.Error with code EINVALID and SCIM type
// invalidFilter when expr is longer than MaxFilterLength, nests deeper than
// MaxFilterDepth, costs more than MaxFilterTerms, MaxFilterSubqueries or
// MaxFilterScans allow (the message names the limit), does not parse, names an unknown attribute or one that
// cannot be filtered on (password, meta.location, ...), compares a value of
// the wrong type (a dateTime that is not RFC 3339, a boolean with a string),
// or orders (gt, ge, lt, le) a boolean, binary or complex attribute.
func (rt *ResourceType) CompileFilter(expr string, argOffset int) (sql string, args []any, err error) {
	return rt.compileFilter(expr, argOffset, nil)
}

// compileFilter is CompileFilter for a search over the resource types
// across (RFC 7644 §3.4.3, a search at the root), rt among them: an
// attribute that rt lacks but another of them has is unassigned in rt's
// resources, so comparing it is false and not() of it true, as for any
// attribute a resource lacks. An attribute no type has stays an error.
func (rt *ResourceType) compileFilter(expr string, argOffset int, across []*ResourceType) (sql string, args []any, err error) {
	if len(expr) > MaxFilterLength {
		return "", nil, invalidFilter("filter is longer than %d characters", MaxFilterLength)
	}
	if filterDepth(expr) > MaxFilterDepth {
		return "", nil, invalidFilter("filter nests deeper than %d levels", MaxFilterDepth)
	}
	e, err := parseFilter(expr)
	if err != nil {
		// What identity providers send beside RFC 7644's grammar: values
		// without quotes, as Entra ID's documentation writes them
		// (userName eq jdoe@contoso.com), and a sub-attribute after a value
		// filter (emails[type eq "work"].value eq "x"), which Entra ID sends
		// when it matches users by email. Rewrite both and try again.
		if e, err = parseFilter(quoteBareValues(foldSubAttrFilters(expr))); err != nil {
			return "", nil, invalidFilter("filter does not parse: %s", strings.TrimSpace(expr))
		}
	}
	c := &compiler{rt: rt, st: rt.store, offset: argOffset}
	c.across = across
	if sql, err = c.expr(e); err != nil {
		return "", nil, err
	}
	if err := c.cost.check(); err != nil {
		return "", nil, err
	}
	return sql, c.args, nil
}

// filterCost is what a compiled filter makes PostgreSQL do, counted
// against the limits MaxFilterTerms, MaxFilterSubqueries and MaxFilterScans.
type filterCost struct {
	terms      int // comparisons and pr
	subqueries int // EXISTS over the values of a multi-valued attribute
	scans      int // co, sw, ew that no index serves
}

// check returns an invalidFilter error naming the first limit c exceeds.
func (c filterCost) check() error {
	switch {
	case c.subqueries > MaxFilterSubqueries:
		return invalidFilter("filter too expensive: %d tests of multi-valued attributes, at most %d (tests of one attribute joined by or count once)", c.subqueries, MaxFilterSubqueries)
	case c.scans > MaxFilterScans:
		return invalidFilter("filter too expensive: %d substring matches (co, sw, ew) that no index serves, at most %d", c.scans, MaxFilterScans)
	case c.terms > MaxFilterTerms:
		return invalidFilter("filter too expensive: %d comparisons, at most %d", c.terms, MaxFilterTerms)
	}
	return nil
}

// subAttrComparison matches what may follow the "]" of a value filter in
// foldSubAttrFilters: a sub-attribute and its comparison.
var subAttrComparison = regexp.MustCompile(`^\.([A-Za-z][A-Za-z0-9_$-]*)\s+(?i:(pr)\b|(eq|ne|co|sw|ew|gt|ge|lt|le)\s+("(?:[^"\\]|\\.)*"|[^\s()\[\]"]+))`)

// foldSubAttrFilters rewrites each attr[filter].sub op value of expr into
// the equivalent attr[(filter) and sub op value], which RFC 7644's grammar
// allows: the value of attr that passes filter has a sub whose value
// compares so.
func foldSubAttrFilters(expr string) string {
	open := -1
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '"':
			i = stringEnd(expr, i) - 1
		case '[':
			open = i
		case ']':
			m := subAttrComparison.FindStringSubmatch(expr[i+1:])
			if open < 0 || m == nil {
				open = -1
				continue
			}
			cmp := m[1] + " " + m[2]
			if m[2] == "" {
				cmp = m[1] + " " + m[3] + " " + m[4]
			}
			folded := expr[:open] + "[(" + expr[open+1:i] + ") and " + cmp + "]"
			return folded + foldSubAttrFilters(expr[i+1+len(m[0]):])
		}
	}
	return expr
}

// quoteBareValues puts double quotes around the comparison values of expr
// that have none and are not true, false, null or a number.
func quoteBareValues(expr string) string {
	type token struct{ start, end int }
	var toks []token
	for i := 0; i < len(expr); {
		switch c := expr[i]; {
		case c == ' ' || c == '\t' || c == '(' || c == ')' || c == '[' || c == ']':
			i++
		case c == '"':
			end := stringEnd(expr, i)
			toks = append(toks, token{i, end})
			i = end
		default:
			j := i
			for j < len(expr) && !strings.ContainsRune(" \t()[]\"", rune(expr[j])) {
				j++
			}
			toks = append(toks, token{i, j})
			i = j
		}
	}
	var b strings.Builder
	last := 0
	for k := 2; k < len(toks); k++ {
		op, v := expr[toks[k-1].start:toks[k-1].end], expr[toks[k].start:toks[k].end]
		switch strings.ToLower(op) {
		case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
		default:
			continue
		}
		if prev := strings.ToLower(expr[toks[k-2].start:toks[k-2].end]); prev == "and" || prev == "or" || prev == "not" {
			continue
		}
		if v[0] == '"' || v == "true" || v == "false" || v == "null" {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			continue
		}
		b.WriteString(expr[last:toks[k].start])
		b.WriteString(strconv.Quote(v))
		last = toks[k].end
	}
	b.WriteString(expr[last:])
	return b.String()
}

func invalidFilter(format string, args ...any) error {
	return app.ScimErrorf(app.EINVALID, app.ScimInvalidFilter, format, args...)
}

// parseFilter parses expr. The parser's grammar for a value filter in
// brackets takes at most two terms and no parentheses, where RFC 7644's
// takes any filter (emails[type eq "work" and (value co "@a" or value co
// "@b")]); when expr does not parse, each bracketed filter is parsed on its
// own and put into the tree parsed from the rest.
func parseFilter(expr string) (filter.Expression, error) {
	if e := parseEq(expr); e != nil {
		return e, nil
	}
	e, err := parseWhole(expr)
	if err == nil {
		return e, nil
	}
	outer, inner := liftValueFilters(expr)
	if len(inner) == 0 {
		return nil, err
	}
	e, err2 := parseWhole(outer)
	if err2 != nil {
		return nil, err
	}
	filters := make([]filter.Expression, len(inner))
	for i, s := range inner {
		if filters[i], err = parseFilter(s); err != nil {
			return nil, err
		}
	}
	if putValueFilters(e, filters) != len(filters) {
		return nil, fmt.Errorf("parse filter %q: a value filter is misplaced", expr)
	}
	return e, nil
}

// parseEq returns the tree of expr when it is one comparison of an
// attribute with a string by eq, such as userName eq "bjensen" (the
// filter identity providers send before each create), and nil for
// anything else: exactly what the parser returns for it
// (TestParseEqAsTheParser, FuzzParseEq), in a few allocations, where the
// parser takes over a thousand. It takes RFC 7644's grammar strictly: an
// attribute name or name.subAttribute, single spaces, a JSON string whose
// escapes it leaves in place, as the parser does.
func parseEq(expr string) filter.Expression {
	name, rest, ok := strings.Cut(expr, " ")
	if !ok || len(rest) < 5 || !strings.EqualFold(rest[:3], "eq ") || !utf8.ValidString(rest) {
		return nil
	}
	value := rest[3:]
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' || !jsonStringBody(value[1:len(value)-1]) {
		return nil
	}
	attr, sub, dotted := strings.Cut(name, ".")
	if !attrName.MatchString(attr) || dotted && !attrName.MatchString(sub) {
		return nil
	}
	path := filter.AttributePath{AttributeName: attr}
	if dotted {
		path.SubAttribute = &sub
	}
	return &filter.AttributeExpression{AttributePath: path, Operator: filter.EQ, CompareValue: value[1 : len(value)-1]}
}

// jsonStringBody reports whether s, valid UTF-8, is the inside of a JSON
// string (RFC 8259 §7) as the parser takes it: no control characters, a
// quote or backslash only escaped, \u with upper-case hex digits.
func jsonStringBody(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"':
			return false
		case c == '\\':
			if i++; i == len(s) {
				return false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) {
					return false
				}
				for _, h := range s[i+1 : i+5] {
					if !strings.ContainsRune("0123456789ABCDEF", h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return true
}

// parseWhole parses expr with the parser, turning its panics into errors.
func parseWhole(expr string) (e filter.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parse filter: %v", r)
		}
	}()
	return filter.ParseFilterNumber([]byte(expr))
}

// valueFilterMark names the stand-in liftValueFilters puts in the brackets.
const valueFilterMark = "bulkheadValueFilter"

// liftValueFilters replaces the text in each outermost pair of brackets of
// expr, outside string literals, with a stand-in that the parser takes
// ("bulkheadValueFilter0 pr", 1, ...) and returns the texts in order; none
// when the brackets do not pair up.
func liftValueFilters(expr string) (outer string, inner []string) {
	var b strings.Builder
	depth, open, last := 0, 0, 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '"':
			i = stringEnd(expr, i) - 1
		case '[':
			if depth == 0 {
				open = i
			}
			depth++
		case ']':
			if depth--; depth < 0 {
				return expr, nil
			}
			if depth == 0 {
				b.WriteString(expr[last : open+1])
				fmt.Fprintf(&b, "%s%d pr", valueFilterMark, len(inner))
				inner = append(inner, expr[open+1:i])
				last = i
			}
		}
	}
	if depth != 0 {
		return expr, nil
	}
	b.WriteString(expr[last:])
	return b.String(), inner
}

// putValueFilters puts filters[k] in place of the stand-in k of
// liftValueFilters in the tree e, and returns how many it put.
func putValueFilters(e filter.Expression, filters []filter.Expression) int {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return putValueFilters(e.Left, filters) + putValueFilters(e.Right, filters)
	case *filter.NotExpression:
		return putValueFilters(e.Expression, filters)
	case *filter.ValuePath:
		if a, ok := e.ValueFilter.(*filter.AttributeExpression); ok {
			if k, err := strconv.Atoi(strings.TrimPrefix(a.AttributePath.AttributeName, valueFilterMark)); err == nil && k >= 0 && k < len(filters) {
				e.ValueFilter = filters[k]
				return 1
			}
		}
	}
	return 0
}

// filterDepth returns how deeply parentheses and brackets nest in expr,
// outside string literals.
func filterDepth(expr string) int {
	depth, max := 0, 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '"':
			i = stringEnd(expr, i) - 1
		case '(', '[':
			depth++
			max = maxInt(max, depth)
		case ')', ']':
			depth--
		}
	}
	return max
}

// stringEnd returns the index just past the string literal of expr that
// starts with the double quote at i, honouring backslash escapes; len(expr)
// when the literal is not closed.
func stringEnd(expr string, i int) int {
	for j := i + 1; j < len(expr); j++ {
		switch expr[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(expr)
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// compiler turns one parsed filter into SQL, collecting its arguments.
type compiler struct {
	rt     *ResourceType
	st     *storage
	offset int
	args   []any
	across []*ResourceType // the types a root search spans (compileFilter)
	cost   filterCost
}

// lacking compiles an attribute path that c.rt lacks: false when another
// type of a root search has it, else the unknown attribute error.
func (c *compiler) lacking(ap filter.AttributePath) (test, error) {
	for _, rt := range c.across {
		if _, ok := rt.resolve(ap); ok {
			return test{cond: "FALSE"}, nil
		}
	}
	return test{}, invalidFilter("unknown attribute %q", ap.String())
}

// arg adds v to the arguments and returns its placeholder.
func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(c.offset+len(c.args))
}

func (c *compiler) expr(e filter.Expression) (string, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if isOr(e) {
			return c.or(e)
		}
		return c.logical(e, c.expr)
	case *filter.NotExpression:
		x, err := c.expr(e.Expression)
		if err != nil {
			return "", err
		}
		return not(x), nil
	}
	t, err := c.test(e)
	if err != nil {
		return "", err
	}
	return c.sql(t), nil
}

// test is one compiled comparison or value filter: cond, which for a test
// of a multi-valued attribute holds for some value in coll.
type test struct {
	coll *collection // nil when cond is over the resource's row
	cond string
}

// test compiles e, an attribute expression or value path.
func (c *compiler) test(e filter.Expression) (test, error) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		return c.attrExpr(e)
	case *filter.ValuePath:
		return c.valuePath(e)
	}
	return test{}, invalidFilter("unsupported filter expression")
}

// sql returns t as a condition over the resource's row.
func (c *compiler) sql(t test) string {
	if t.coll == nil {
		return t.cond
	}
	c.cost.subqueries++
	return t.coll.exists(t.cond)
}

// or compiles a chain of or. Tests of the values of one collection become
// one EXISTS whose condition ors theirs, in the place of the first: some
// value passes one test or some value passes another exactly when some
// value passes one or the other.
func (c *compiler) or(e *filter.LogicalExpression) (string, error) {
	type part struct {
		test
		conds []string // the conditions merged into test, in order
	}
	var parts []*part
	merged := map[string]*part{} // by the collection's FROM and WHERE
	for _, operand := range orOperands(e, nil) {
		var t test
		var err error
		switch operand.(type) {
		case *filter.AttributeExpression, *filter.ValuePath:
			t, err = c.test(operand)
		default:
			t.cond, err = c.expr(operand)
		}
		if err != nil {
			return "", err
		}
		if t.coll == nil {
			parts = append(parts, &part{test: t})
			continue
		}
		key := t.coll.from + " WHERE " + t.coll.where
		if p := merged[key]; p != nil {
			p.conds = append(p.conds, t.cond)
			continue
		}
		p := &part{test: t, conds: []string{t.cond}}
		merged[key] = p
		parts = append(parts, p)
	}
	sqls := make([]string, len(parts))
	for i, p := range parts {
		if len(p.conds) > 1 {
			p.cond = "(" + strings.Join(p.conds, " OR ") + ")"
		}
		sqls[i] = c.sql(p.test)
	}
	if len(sqls) == 1 {
		return sqls[0], nil
	}
	return "(" + strings.Join(sqls, " OR ") + ")", nil
}

// orOperands appends to operands those of the chain of or e, parentheses
// taken away, left to right.
func orOperands(e filter.Expression, operands []filter.Expression) []filter.Expression {
	if l, ok := e.(*filter.LogicalExpression); ok && isOr(l) {
		return orOperands(l.Right, orOperands(l.Left, operands))
	}
	return append(operands, e)
}

func isOr(e *filter.LogicalExpression) bool {
	return strings.EqualFold(string(e.Operator), string(filter.OR))
}

// logical compiles an and/or, with each side compiled by side.
func (c *compiler) logical(e *filter.LogicalExpression, side func(filter.Expression) (string, error)) (string, error) {
	l, err := side(e.Left)
	if err != nil {
		return "", err
	}
	r, err := side(e.Right)
	if err != nil {
		return "", err
	}
	op := " AND "
	if isOr(e) {
		op = " OR "
	}
	return "(" + l + op + r + ")", nil
}

// not negates x. A comparison with a missing value is NULL in SQL, and NOT
// NULL is NULL again; SCIM wants not(title eq "x") true for a user without a
// title, so the NULL becomes FALSE first. Under and/or alone NULL already
// acts as FALSE in a WHERE clause, so only not() needs this.
func not(x string) string {
	return "NOT COALESCE(" + x + ", FALSE)"
}

// attrExpr compiles "attrPath op value" and "attrPath pr".
func (c *compiler) attrExpr(e *filter.AttributeExpression) (test, error) {
	path, ok := c.rt.resolve(e.AttributePath)
	if !ok {
		return c.lacking(e.AttributePath)
	}
	c.cost.terms++
	op := filter.CompareOperator(strings.ToLower(string(e.Operator)))
	if path.Attr.Type == TypeComplex && path.Sub == nil {
		if op == filter.PR {
			cond, err := c.presentAttr(path)
			return test{cond: cond}, err
		}
		if isOrdering(op) {
			return test{}, invalidFilter("%s cannot be used with complex attribute %q", op, path.String())
		}
		// RFC 7644 §3.4.2.2 compares a complex attribute through its value.
		if path.Sub = path.Attr.Sub("value"); path.Sub == nil {
			return test{}, invalidFilter("attribute %q is complex: name one of its sub-attributes", path.String())
		}
	}
	if path.Attr.MultiValued {
		coll, err := c.collection(path, []*Attribute{path.Sub})
		if err != nil {
			return test{}, err
		}
		cond, err := c.compare(coll.target(path.Sub), op, e.CompareValue)
		return test{coll: coll, cond: cond}, err
	}
	t, err := c.scalar(path)
	if err != nil {
		return test{}, err
	}
	cond, err := c.compare(t, op, e.CompareValue)
	return test{cond: cond}, err
}

// valuePath compiles "attr[valFilter]": every condition of valFilter holds
// for one and the same value of attr.
func (c *compiler) valuePath(e *filter.ValuePath) (test, error) {
	path, ok := c.rt.resolve(e.AttributePath)
	if !ok {
		return c.lacking(e.AttributePath)
	}
	if path.Sub != nil || path.Attr.Type != TypeComplex {
		return test{}, invalidFilter("attribute %q is not complex: it takes no [filter]", path.String())
	}
	var subs []*Attribute
	if err := c.subAttrs(path, e.ValueFilter, &subs); err != nil {
		return test{}, err
	}
	if !path.Attr.MultiValued {
		cond, err := c.valueFilter(path, e.ValueFilter, func(sub *Attribute) (target, error) {
			return c.scalar(AttrPath{Schema: path.Schema, Attr: path.Attr, Sub: sub})
		})
		return test{cond: cond}, err
	}
	coll, err := c.collection(path, subs)
	if err != nil {
		return test{}, err
	}
	cond, err := c.valueFilter(path, e.ValueFilter, func(sub *Attribute) (target, error) {
		return coll.target(sub), nil
	})
	return test{coll: coll, cond: cond}, err
}

// subAttrs appends to subs the sub-attributes of path.Attr that the value
// filter e names, failing on names that are not sub-attributes.
func (c *compiler) subAttrs(path AttrPath, e filter.Expression, subs *[]*Attribute) error {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if err := c.subAttrs(path, e.Left, subs); err != nil {
			return err
		}
		return c.subAttrs(path, e.Right, subs)
	case *filter.NotExpression:
		return c.subAttrs(path, e.Expression, subs)
	case *filter.AttributeExpression:
		ap := e.AttributePath
		var sub *Attribute
		if ap.URIPrefix == nil && ap.SubAttribute == nil {
			sub = path.Attr.Sub(ap.AttributeName)
		}
		if sub == nil {
			return invalidFilter("attribute %q has no sub-attribute %q", path.String(), ap.String())
		}
		*subs = append(*subs, sub)
		return nil
	}
	return invalidFilter("unsupported expression inside %s[...]", path.String())
}

// valueFilter compiles the filter inside the brackets of a value path, each
// sub-attribute reached through targetOf.
func (c *compiler) valueFilter(path AttrPath, e filter.Expression, targetOf func(*Attribute) (target, error)) (string, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		return c.logical(e, func(e filter.Expression) (string, error) { return c.valueFilter(path, e, targetOf) })
	case *filter.NotExpression:
		x, err := c.valueFilter(path, e.Expression, targetOf)
		if err != nil {
			return "", err
		}
		return not(x), nil
	case *filter.AttributeExpression:
		c.cost.terms++
		t, err := targetOf(path.Attr.Sub(e.AttributePath.AttributeName))
		if err != nil {
			return "", err
		}
		return c.compare(t, filter.CompareOperator(strings.ToLower(string(e.Operator))), e.CompareValue)
	}
	return "", invalidFilter("unsupported expression inside %s[...]", path.String())
}

// presentAttr compiles "attr pr" for a complex attribute: it has a value.
func (c *compiler) presentAttr(path AttrPath) (string, error) {
	if t := c.st.tables[lowerName(path.Attr)]; t != nil {
		c.cost.subqueries++
		return "EXISTS (SELECT 1 FROM " + t.from + " WHERE " + t.link + ")", nil
	}
	t, err := c.scalar(path)
	if err != nil {
		return "", err
	}
	return present(t), nil
}

// target is the place one attribute value is compared at: a column, or a
// jsonb value inside data.
type target struct {
	def  *Attribute
	sql  string // the value as SQL text (or the column's own type)
	json string // the value as jsonb; "" for a column
	uuid bool   // the column is uuid
	// prefix and trigram say which indexes on lower(sql) serve LIKE, as
	// column's fields do.
	prefix, trigram bool
}

// scalar returns the target of path, a single-valued attribute or a
// sub-attribute of a single-valued complex attribute.
func (c *compiler) scalar(path AttrPath) (target, error) {
	def := path.Attr
	if path.Sub != nil {
		def = path.Sub
	}
	if path.Schema == c.rt.core {
		if col, ok := c.st.columns[strings.ToLower(path.name())]; ok {
			return target{def: def, sql: col.sql, uuid: col.uuid, prefix: col.prefix, trigram: col.trigram}, nil
		}
	}
	if !c.st.inData(path) {
		return target{}, invalidFilter("attribute %q cannot be used in a filter", path.String())
	}
	base := c.st.table + ".data"
	if path.Schema != c.rt.core {
		base += "->" + quoteKey(path.Schema.ID)
	}
	if path.Sub == nil {
		return jsonTarget(def, base, path.Attr.Name), nil
	}
	return jsonTarget(def, base+"->"+quoteKey(path.Attr.Name), path.Sub.Name), nil
}

// jsonTarget returns the target of key inside the jsonb object obj.
func jsonTarget(def *Attribute, obj, key string) target {
	return target{def: def, sql: obj + "->>" + quoteKey(key), json: obj + "->" + quoteKey(key)}
}

// quoteKey returns name as an SQL string literal. Names come from the
// schema definitions, never from a request; doubling quotes keeps that safe
// should a definition ever hold one.
func quoteKey(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// collection is where the values of one multi-valued attribute live: rows of
// a child table, or elements of a jsonb array in data.
type collection struct {
	attr  *Attribute
	from  string
	where string      // ties the values to the resource's row; "" for jsonb
	table *childTable // nil for jsonb
}

// collection returns where to find the values of path.Attr holding the
// sub-attributes subs: its child table when that has columns for all of
// them, else its jsonb array.
func (c *compiler) collection(path AttrPath, subs []*Attribute) (*collection, error) {
	top := AttrPath{Schema: path.Schema, Attr: path.Attr}
	if t := c.st.tables[lowerName(path.Attr)]; t != nil && t.hasAll(subs) {
		from := t.from
		for _, s := range subs {
			if j, ok := t.joins[lowerName(s)]; ok && !strings.Contains(from, j) {
				from += " " + j
			}
		}
		return &collection{attr: path.Attr, from: from, where: t.link, table: t}, nil
	}
	if !c.st.inData(top) {
		return nil, invalidFilter("attribute %q cannot be used in a filter", path.String())
	}
	for _, s := range subs {
		if s != nil && !stored(s) {
			return nil, invalidFilter("attribute %q cannot be used in a filter", AttrPath{Schema: path.Schema, Attr: path.Attr, Sub: s}.String())
		}
	}
	arr, err := c.scalar(top)
	if err != nil {
		return nil, err
	}
	return &collection{
		attr: path.Attr,
		from: "jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr.json + ") = 'array' THEN " + arr.json + " ELSE '[]' END) AS v(e)",
	}, nil
}

// hasAll reports whether t has a column for each of subs.
func (t *childTable) hasAll(subs []*Attribute) bool {
	for _, s := range subs {
		if s == nil {
			return false
		}
		if _, ok := t.subs[lowerName(s)]; !ok {
			return false
		}
	}
	return true
}

// target returns where sub, a sub-attribute of one value, is; nil sub
// means the value itself, for multi-valued attributes that are not complex.
func (coll *collection) target(sub *Attribute) target {
	if coll.table != nil {
		col := coll.table.subs[lowerName(sub)]
		return target{def: sub, sql: col.sql, uuid: col.uuid, prefix: col.prefix, trigram: col.trigram}
	}
	if sub == nil {
		return target{def: coll.attr, sql: "v.e #>> '{}'", json: "v.e"}
	}
	return jsonTarget(sub, "v.e", sub.Name)
}

// exists returns the condition that some value of coll satisfies cond.
func (coll *collection) exists(cond string) string {
	where := cond
	if coll.where != "" {
		where = coll.where + " AND " + cond
	}
	return "EXISTS (SELECT 1 FROM " + coll.from + " WHERE " + where + ")"
}

// isOrdering reports whether op is gt, ge, lt or le.
func isOrdering(op filter.CompareOperator) bool {
	return op == filter.GT || op == filter.GE || op == filter.LT || op == filter.LE
}

var sqlOps = map[filter.CompareOperator]string{
	filter.EQ: " = ", filter.NE: " <> ",
	filter.GT: " > ", filter.GE: " >= ", filter.LT: " < ", filter.LE: " <= ",
}

// compare compiles "t op v".
func (c *compiler) compare(t target, op filter.CompareOperator, v any) (string, error) {
	name := t.def.Name
	if op == filter.PR {
		return present(t), nil
	}
	if _, known := sqlOps[op]; !known && op != filter.CO && op != filter.SW && op != filter.EW {
		return "", invalidFilter("unknown operator %q", op)
	}
	if v == nil {
		switch op {
		case filter.EQ:
			return not(present(t)), nil
		case filter.NE:
			return present(t), nil
		}
		return "", invalidFilter("%s cannot compare %q with null", op, name)
	}
	if isOrdering(op) && (t.def.Type == TypeBoolean || t.def.Type == TypeBinary || t.def.Type == TypeComplex) {
		return "", invalidFilter("%s cannot be used with %s attribute %q", op, t.def.Type, name)
	}
	switch t.def.Type {
	case TypeBoolean:
		return c.compareBool(t, op, v)
	case TypeInteger, TypeDecimal:
		return c.compareNumber(t, op, v)
	case TypeDateTime:
		if t.json == "" {
			return c.compareTime(t, op, v)
		}
	}
	return c.compareString(t, op, v)
}

// present compiles "t pr": t has a value that is not null, "", [] or {}.
func present(t target) string {
	if t.json != "" {
		return "COALESCE(" + t.json + " NOT IN ('null', '\"\"', '[]', '{}'), FALSE)"
	}
	if t.uuid || (t.def.Type != TypeString && t.def.Type != TypeReference && t.def.Type != TypeBinary) {
		return t.sql + " IS NOT NULL"
	}
	return "(" + t.sql + " IS NOT NULL AND " + t.sql + " <> '')"
}

func (c *compiler) compareString(t target, op filter.CompareOperator, v any) (string, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number: // employeeNumber eq 42: the number as written
		s = string(v)
	default:
		return "", invalidFilter("attribute %q takes a string", t.def.Name)
	}
	s, err := unescape(s)
	if err != nil {
		return "", err
	}
	if t.uuid {
		return c.compareUUID(t, op, s), nil
	}
	if isSubstring(op) && !t.likeIndexed(op, s) {
		c.cost.scans++
	}
	lhs, param := t.sql, c.arg
	if !t.def.CaseExact {
		lhs = "lower(" + lhs + ")"
		param = func(v any) string { return "lower(" + c.arg(v) + "::text)" }
	}
	return lhs + likeOrCompare(op, s, param), nil
}

// likeOrCompare returns the operator and right-hand side of "x op s":
// co, sw and ew as LIKE with s escaped (LIKE's default escape character is
// the backslash), the rest as comparisons.
func likeOrCompare(op filter.CompareOperator, s string, param func(any) string) string {
	switch op {
	case filter.CO:
		return " LIKE " + param("%"+escapeLike(s)+"%")
	case filter.SW:
		return " LIKE " + param(escapeLike(s)+"%")
	case filter.EW:
		return " LIKE " + param("%"+escapeLike(s))
	}
	return sqlOps[op] + param(s)
}

// isSubstring reports whether op is co, sw or ew.
func isSubstring(op filter.CompareOperator) bool {
	return op == filter.CO || op == filter.SW || op == filter.EW
}

// likeIndexed reports whether an index serves "t op s", a substring match
// of t compared in lower case. pg_trgm finds no trigram in fewer than three
// characters inside the pattern (co "@", ew "1"), so PostgreSQL scans the
// table instead.
func (t target) likeIndexed(op filter.CompareOperator, s string) bool {
	if t.def.CaseExact {
		return false // the indexes are on lower(...)
	}
	return (op == filter.SW && t.prefix) || (t.trigram && utf8.RuneCountInString(s) >= 3)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// compareUUID compares a uuid column. eq and ne compare the uuid itself, so
// the primary key serves; a value that is no UUID matches no row rather
// than failing the cast. The other operators compare the text form, which
// is lower case.
func (c *compiler) compareUUID(t target, op filter.CompareOperator, s string) string {
	if op == filter.EQ || op == filter.NE {
		id, err := uuid.Parse(s)
		switch {
		case err != nil && op == filter.EQ:
			return "FALSE"
		case err != nil:
			return "TRUE"
		}
		return t.sql + sqlOps[op] + c.arg(id.String())
	}
	if isSubstring(op) {
		c.cost.scans++ // no index holds the text form
	}
	return t.sql + "::text" + likeOrCompare(op, s, func(v any) string { return "lower(" + c.arg(v) + "::text)" })
}

func (c *compiler) compareBool(t target, op filter.CompareOperator, v any) (string, error) {
	b, ok := v.(bool)
	if s, isStr := v.(string); isStr {
		// Microsoft Entra ID writes booleans as "True" and "False".
		b, ok = strings.EqualFold(s, "true"), strings.EqualFold(s, "true") || strings.EqualFold(s, "false")
	}
	if !ok {
		return "", invalidFilter("attribute %q takes true or false", t.def.Name)
	}
	if op != filter.EQ && op != filter.NE {
		return "", invalidFilter("%s cannot be used with boolean attribute %q", op, t.def.Name)
	}
	if t.json != "" {
		return t.json + sqlOps[op] + "to_jsonb(" + c.arg(b) + "::boolean)", nil
	}
	return t.sql + sqlOps[op] + c.arg(b), nil
}

// compareNumber compares a number kept in data. Only numbers compare: a
// string stored by mistake never matches and never fails a cast.
func (c *compiler) compareNumber(t target, op filter.CompareOperator, v any) (string, error) {
	n, ok := v.(json.Number)
	if !ok {
		return "", invalidFilter("attribute %q takes a number", t.def.Name)
	}
	if _, known := sqlOps[op]; !known {
		return "", invalidFilter("%s cannot be used with number attribute %q", op, t.def.Name)
	}
	if t.json == "" {
		return t.sql + sqlOps[op] + c.arg(string(n)), nil
	}
	return "(jsonb_typeof(" + t.json + ") = 'number' AND " + t.json + sqlOps[op] + "to_jsonb(" + c.arg(string(n)) + "::numeric))", nil
}

// compareTime compares a timestamptz column with an RFC 3339 dateTime.
func (c *compiler) compareTime(t target, op filter.CompareOperator, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", invalidFilter("attribute %q takes a dateTime such as \"2011-05-13T04:42:34Z\"", t.def.Name)
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", invalidFilter("attribute %q takes a dateTime such as \"2011-05-13T04:42:34Z\", not %q", t.def.Name, s)
	}
	if _, known := sqlOps[op]; !known {
		return "", invalidFilter("%s cannot be used with dateTime attribute %q", op, t.def.Name)
	}
	return t.sql + sqlOps[op] + c.arg(tm), nil
}

// unescape decodes the JSON escapes (\" \\ \u00e9 ...) the filter parser
// leaves in a string value.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return "", invalidFilter("invalid escape in string %q", s)
	}
	return out, nil
}
