package scim

import "strings"

// storage says where the attributes of a resource type live in the tenant
// tables of schema/tenant/001_scim.sql. It holds only what the schema
// definitions cannot say (table and column names); attribute types, case
// sensitivity and multiplicity always come from the definitions.
//
// An attribute found in neither columns nor tables lives in the jsonb column
// data, under its canonical name, and extension attributes under their
// schema URN, as Normalize writes them ("schemas" included): the store keeps
// the normalized resource, less password and members, in data.
type storage struct {
	table   string            // the main table, also its alias in SQL
	columns map[string]column // lower-case attribute path without URN ("username", "meta.created")
	tables  map[string]*childTable
	// indexed lists the string attributes whose values are kept under a
	// btree index ("emails.value": each email's value), which bounds
	// their length (MaxIndexedChars).
	indexed []string
}

// column is one column of a table, as an SQL expression.
type column struct {
	sql  string
	uuid bool // the column is uuid: compare values that parse as UUIDs only
	// The indexes of schema/tenant on lower(sql) that serve LIKE, which the
	// filter cost model reads: prefix (text_pattern_ops) serves sw, trigram
	// (pg_trgm) serves co, sw and ew of at least three characters.
	prefix, trigram bool
}

// childTable holds the values of one multi-valued attribute as rows.
type childTable struct {
	from   string            // FROM item with its alias
	link   string            // condition tying a row to the main table's row
	subs   map[string]column // lower-case sub-attribute name → column
	joins  map[string]string // lower-case sub-attribute name → JOIN it needs
	inData bool              // the values are also kept in data, for what subs lacks
}

var userStorage = &storage{
	table:   "users",
	indexed: []string{"userName", "externalId", "displayName", "emails.value"},
	columns: map[string]column{
		"id":                {sql: "users.id", uuid: true},
		"username":          {sql: "users.user_name", prefix: true, trigram: true},
		"externalid":        {sql: "users.external_id"},
		"displayname":       {sql: "users.display_name"},
		"active":            {sql: "users.active"},
		"meta.created":      {sql: "users.created"},
		"meta.lastmodified": {sql: "users.last_modified"},
		// Every row is a User: the filter in RFC 7644 §3.4.2.1's example of
		// a root search, meta.resourceType eq "User", compares a constant.
		"meta.resourcetype": {sql: "'User'"},
	},
	tables: map[string]*childTable{
		"emails": {
			from: "user_emails e",
			link: "e.user_id = users.id",
			subs: map[string]column{
				"value":   {sql: "e.value", prefix: true, trigram: true},
				"type":    {sql: "e.type"},
				"primary": {sql: "e.is_primary"},
			},
			inData: true,
		},
		"groups": {
			from: "group_members gm",
			link: "gm.member_id = users.id",
			subs: map[string]column{
				"value":   {sql: "gm.group_id", uuid: true},
				"display": {sql: "g.display_name"},
			},
			joins: map[string]string{"display": "JOIN groups g ON g.id = gm.group_id"},
		},
	},
}

var groupStorage = &storage{
	table:   "groups",
	indexed: []string{"displayName", "externalId"},
	columns: map[string]column{
		"id":                {sql: "groups.id", uuid: true},
		"displayname":       {sql: "groups.display_name"},
		"externalid":        {sql: "groups.external_id"},
		"meta.created":      {sql: "groups.created"},
		"meta.lastmodified": {sql: "groups.last_modified"},
		"meta.resourcetype": {sql: "'Group'"},
	},
	tables: map[string]*childTable{
		"members": {
			from: "group_members m",
			link: "m.group_id = groups.id",
			subs: map[string]column{
				"value": {sql: "m.member_id", uuid: true},
				"type":  {sql: "m.member_type"},
			},
		},
	},
}

// inData reports whether the values of p are kept in the data column: what
// Normalize keeps and no column or child table holds.
func (st *storage) inData(p AttrPath) bool {
	if p.common() || !stored(p.Attr) || (p.Sub != nil && !stored(p.Sub)) {
		return false
	}
	if t := st.tables[lowerName(p.Attr)]; t != nil {
		return t.inData
	}
	return true
}

// stored reports whether Normalize keeps values of a: it drops readOnly
// attributes, and the store keeps passwords (returned never) apart.
func stored(a *Attribute) bool {
	return a.Mutability != ReadOnly && a.Returned != ReturnedNever
}

// lowerName returns the name of a in lower case, the key of the maps above.
func lowerName(a *Attribute) string { return strings.ToLower(a.Name) }
