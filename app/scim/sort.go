package scim

import (
	"strings"

	"github.com/bulkhead-dev/bulkhead/app"
)

// OrderBy returns the expressions of an ORDER BY clause (without the
// keywords) for the sortBy and sortOrder query parameters
// (RFC 7644 §3.4.2.3). The expressions come from the schema definitions and
// the table mapping of rt, never from the request. The resource id always
// comes last, so that pages of equal sort keys do not overlap.
//
// Strings sort case-insensitively unless caseExact; a multi-valued attribute
// sorts by its primary value, else its first. Resources without a value sort
// last when ascending and first when descending, PostgreSQL's default and
// what RFC 7644 §3.4.2.3 asks. Without sortBy, resources come in creation
// order and sortOrder is ignored.
//
// An unknown sortBy, one naming a whole schema or an attribute that cannot
// be sorted on (password, members.display ...), and a sortOrder other than
// "ascending" or "descending" return an *app.Error with code EINVALID and
// SCIM type invalidValue. RFC 7644 §3.4.2.3 does not say what to do with
// them; ignoring them would hand the client pages in an order it did not
// ask for and cannot detect, so Bulkhead refuses, with the type §3.12 gives
// to "the value specified was not compatible with the operation".
func (rt *ResourceType) OrderBy(sortBy, sortOrder string) (string, error) {
	table := rt.store.table
	if sortBy == "" {
		return table + ".created, " + table + ".id", nil
	}
	dir := ""
	switch {
	case sortOrder == "" || strings.EqualFold(sortOrder, "ascending"):
	case strings.EqualFold(sortOrder, "descending"):
		dir = " DESC"
	default:
		return "", app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "sortOrder must be \"ascending\" or \"descending\"")
	}
	path, err := rt.LookupAttr(sortBy, app.ScimInvalidValue)
	if err != nil {
		return "", err
	}
	key, err := rt.sortKey(path)
	if err != nil {
		return "", err
	}
	return key + dir + ", " + table + ".id" + dir, nil
}

// sortKey returns the SQL expression resources sort on for path.
func (rt *ResourceType) sortKey(path AttrPath) (string, error) {
	cannot := app.ScimErrorf(app.EINVALID, app.ScimInvalidValue, "cannot sort by %q", path.String())
	if path.Attr == nil || path.Attr.Returned == ReturnedNever {
		return "", cannot
	}
	if path.Attr.Type == TypeComplex && path.Sub == nil {
		if path.Sub = path.Attr.Sub("value"); path.Sub == nil {
			return "", cannot
		}
	}
	c := &compiler{rt: rt, st: rt.store}
	if !path.Attr.MultiValued {
		t, err := c.scalar(path)
		if err != nil {
			return "", cannot
		}
		return sortValue(t), nil
	}
	return rt.sortMulti(c, path, cannot)
}

// sortMulti returns a sub-select giving the primary value of a multi-valued
// attribute, else its first. Values kept in data have an order; those kept
// only as rows (groups, members) do not, and give their least value.
func (rt *ResourceType) sortMulti(c *compiler, path AttrPath, cannot error) (string, error) {
	top := AttrPath{Schema: path.Schema, Attr: path.Attr}
	if rt.store.inData(top) && (path.Sub == nil || stored(path.Sub)) {
		arr, err := c.scalar(top)
		if err != nil {
			return "", cannot
		}
		coll := &collection{attr: path.Attr}
		key := sortValue(coll.target(path.Sub))
		order := "v.n"
		if path.Attr.Sub("primary") != nil {
			order = "COALESCE(v.e->'primary' = 'true', FALSE) DESC, v.n"
		}
		return "(SELECT " + key + " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr.json + ") = 'array' THEN " +
			arr.json + " ELSE '[]' END) WITH ORDINALITY AS v(e, n) ORDER BY " + order + " LIMIT 1)", nil
	}
	coll, err := c.collection(path, []*Attribute{path.Sub})
	if err != nil || coll.table == nil {
		return "", cannot
	}
	key := sortValue(coll.target(path.Sub))
	return "(SELECT " + key + " FROM " + coll.from + " WHERE " + coll.where + " ORDER BY 1 LIMIT 1)", nil
}

// sortValue returns the expression t sorts by: strings as text, lower-cased
// unless caseExact; numbers and booleans in data as jsonb, which orders them
// by value rather than as text.
func sortValue(t target) string {
	switch {
	case t.json != "" && (t.def.Type == TypeInteger || t.def.Type == TypeDecimal || t.def.Type == TypeBoolean):
		return t.json
	case !t.uuid && !t.def.CaseExact && (t.def.Type == TypeString || t.def.Type == TypeReference):
		return "lower(" + t.sql + ")"
	}
	return t.sql
}
