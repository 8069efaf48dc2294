package scim_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// emailsRow is the EXISTS over a user's rows in user_emails.
const emailsRow = "EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = users.id AND "

func TestCompileFilter(t *testing.T) {
	when := time.Date(2011, 5, 13, 4, 42, 34, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		rt     *scim.ResourceType
		filter string
		offset int
		sql    string
		args   []any
	}{
		{
			name:   "UserNameEq",
			filter: `userName eq "bjensen"`,
			sql:    "lower(users.user_name) = lower($1::text)",
			args:   []any{"bjensen"},
		},
		{
			name:   "ArgOffset",
			filter: `userName eq "bjensen"`,
			offset: 3,
			sql:    "lower(users.user_name) = lower($4::text)",
			args:   []any{"bjensen"},
		},
		{
			name:   "OperatorAndNameAnyCase",
			filter: `USERNAME Eq "bjensen"`,
			sql:    "lower(users.user_name) = lower($1::text)",
			args:   []any{"bjensen"},
		},
		{
			name:   "ContainsWithQuote",
			filter: `name.familyName co "O'Malley"`,
			sql:    "lower(users.data->'name'->>'familyName') LIKE lower($1::text)",
			args:   []any{"%O'Malley%"},
		},
		{
			name:   "StartsWith",
			filter: `userName sw "J"`,
			sql:    "lower(users.user_name) LIKE lower($1::text)",
			args:   []any{"J%"},
		},
		{
			name:   "LikeMetacharactersEscaped",
			filter: `userName sw "50%_off\\"`,
			sql:    "lower(users.user_name) LIKE lower($1::text)",
			args:   []any{`50\%\_off\\%`},
		},
		{
			name:   "URNPrefixedCoreName",
			filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
			sql:    "lower(users.user_name) LIKE lower($1::text)",
			args:   []any{"J%"},
		},
		{
			name:   "Present",
			filter: `title pr`,
			sql:    `COALESCE(users.data->'title' NOT IN ('null', '""', '[]', '{}'), FALSE)`,
		},
		{
			name:   "LastModifiedGreater",
			filter: `meta.lastModified gt "2011-05-13T04:42:34Z"`,
			sql:    "users.last_modified > $1",
			args:   []any{when},
		},
		{
			name:   "LastModifiedLessOrEqual",
			filter: `meta.LASTMODIFIED le "2011-05-13T04:42:34Z"`,
			sql:    "users.last_modified <= $1",
			args:   []any{when},
		},
		{
			name:   "AndBindsTighterThanOr",
			filter: `userName eq "a" or userName eq "b" and active eq true`,
			sql:    "(lower(users.user_name) = lower($1::text) OR (lower(users.user_name) = lower($2::text) AND users.active = $3))",
			args:   []any{"a", "b", true},
		},
		{
			name:   "ParenthesesOverridePrecedence",
			filter: `(userName eq "a" or userName eq "b") and active eq true`,
			sql:    "((lower(users.user_name) = lower($1::text) OR lower(users.user_name) = lower($2::text)) AND users.active = $3)",
			args:   []any{"a", "b", true},
		},
		{
			name:   "Not",
			filter: `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
			sql: "(lower(users.data->>'userType') <> lower($1::text) AND NOT COALESCE(" +
				emailsRow + "(lower(e.value) LIKE lower($2::text) OR lower(e.value) LIKE lower($3::text))), FALSE))",
			args: []any{"Employee", "%example.com%", "%example.org%"},
		},
		{
			name:   "ValueFiltersJoinedByOrMerge",
			filter: `emails[value co "0"] or emails[value co "1"] or emails[type eq "work" and value co "2"]`,
			sql: emailsRow + "(lower(e.value) LIKE lower($1::text) OR lower(e.value) LIKE lower($2::text) OR " +
				"(lower(e.type) = lower($3::text) AND lower(e.value) LIKE lower($4::text))))",
			args: []any{"%0%", "%1%", "work", "%2%"},
		},
		{
			name:   "OrMergesInPlaceOfFirstAcrossParentheses",
			filter: `userName eq "a" or emails[value co "b"] or (ims[value eq "c"] or emails.type eq "work")`,
			sql: "(lower(users.user_name) = lower($1::text) OR " +
				emailsRow + "(lower(e.value) LIKE lower($2::text) OR lower(e.type) = lower($4::text))) OR " +
				"EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'ims') = 'array' THEN users.data->'ims' ELSE '[]' END) AS v(e) WHERE lower(v.e->>'value') = lower($3::text)))",
			args: []any{"a", "%b%", "c", "work"},
		},
		{
			name:   "JSONValueFiltersJoinedByOrMerge",
			filter: `ims[value co "a"] or ims[type eq "xmpp"]`,
			sql:    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'ims') = 'array' THEN users.data->'ims' ELSE '[]' END) AS v(e) WHERE (lower(v.e->>'value') LIKE lower($1::text) OR lower(v.e->>'type') = lower($2::text)))",
			args:   []any{"%a%", "xmpp"},
		},
		{
			// Two values may each pass one test: not one EXISTS.
			name:   "ValueFiltersJoinedByAndStayApart",
			filter: `emails[type eq "work"] and emails[value co "x"]`,
			sql:    "(" + emailsRow + "lower(e.type) = lower($1::text)) AND " + emailsRow + "lower(e.value) LIKE lower($2::text)))",
			args:   []any{"work", "%x%"},
		},
		{
			// not(∃a) or not(∃b) is not not(∃(a or b)).
			name:   "NegatedValueFiltersStayApart",
			filter: `not (emails[value co "x"]) or not (emails[value co "y"])`,
			sql: "(NOT COALESCE(" + emailsRow + "lower(e.value) LIKE lower($1::text)), FALSE) OR " +
				"NOT COALESCE(" + emailsRow + "lower(e.value) LIKE lower($2::text)), FALSE))",
			args: []any{"%x%", "%y%"},
		},
		{
			// emails.display lives in data only: its test runs over the
			// jsonb array, emails.value's over user_emails, so they stay apart.
			name:   "OneAttributeTwoPlacesStayApart",
			filter: `emails[value co "x"] or emails[display co "y"]`,
			sql: "(" + emailsRow + "lower(e.value) LIKE lower($1::text)) OR " +
				"EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'emails') = 'array' THEN users.data->'emails' ELSE '[]' END) AS v(e) WHERE lower(v.e->>'display') LIKE lower($2::text)))",
			args: []any{"%x%", "%y%"},
		},
		{
			name:   "GroupsWithAndWithoutJoinStayApart",
			filter: `groups.display eq "Admins" or groups eq "e9e30dba-f08f-4109-8486-d5c6a331660a"`,
			sql: "(EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = users.id AND lower(g.display_name) = lower($1::text)) OR " +
				"EXISTS (SELECT 1 FROM group_members gm WHERE gm.member_id = users.id AND gm.group_id = $2))",
			args: []any{"Admins", "e9e30dba-f08f-4109-8486-d5c6a331660a"},
		},
		{
			name:   "GroupMembersJoinedByOrMerge",
			rt:     scim.GroupResource,
			filter: `members[value eq "e9e30dba-f08f-4109-8486-d5c6a331660a"] or members.value eq "2819c223-7f76-453a-919d-413861904646"`,
			sql:    "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND (m.member_id = $1 OR m.member_id = $2))",
			args:   []any{"e9e30dba-f08f-4109-8486-d5c6a331660a", "2819c223-7f76-453a-919d-413861904646"},
		},
		{
			name:   "EmailsValueFilterOnOneRow",
			filter: `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
			sql: "(lower(users.data->>'userType') = lower($1::text) AND " +
				emailsRow + "(lower(e.type) = lower($2::text) AND lower(e.value) LIKE lower($3::text))))",
			args: []any{"Employee", "work", "%@example.com%"},
		},
		{
			name:   "EmailsSubAttribute",
			filter: `emails.type eq "work"`,
			sql:    emailsRow + "lower(e.type) = lower($1::text))",
			args:   []any{"work"},
		},
		{
			name:   "EmailsPrimary",
			filter: `emails.primary eq true`,
			sql:    emailsRow + "e.is_primary = $1)",
			args:   []any{true},
		},
		{
			name:   "EmailsPresent",
			filter: `emails pr`,
			sql:    "EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = users.id)",
		},
		{
			name:   "EmailsDisplayFromData",
			filter: `emails[display co "x"]`,
			sql:    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'emails') = 'array' THEN users.data->'emails' ELSE '[]' END) AS v(e) WHERE lower(v.e->>'display') LIKE lower($1::text))",
			args:   []any{"%x%"},
		},
		{
			name:   "ImsValueFilter",
			filter: `ims[type eq "xmpp" and value co "@foo.com"]`,
			sql:    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'ims') = 'array' THEN users.data->'ims' ELSE '[]' END) AS v(e) WHERE (lower(v.e->>'type') = lower($1::text) AND lower(v.e->>'value') LIKE lower($2::text)))",
			args:   []any{"xmpp", "%@foo.com%"},
		},
		{
			name:   "EnterpriseExtension",
			filter: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915"`,
			sql:    "lower(users.data->'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'->'manager'->>'value') = lower($1::text)",
			args:   []any{"26118915"},
		},
		{
			name:   "ExtensionURNAnyCase",
			filter: `URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "7"`,
			sql:    "lower(users.data->'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'->>'employeeNumber') = lower($1::text)",
			args:   []any{"7"},
		},
		{
			name:   "Schemas",
			filter: `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
			sql:    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(users.data->'schemas') = 'array' THEN users.data->'schemas' ELSE '[]' END) AS v(e) WHERE lower(v.e #>> '{}') = lower($1::text))",
			args:   []any{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		},
		{
			name:   "IDEq",
			filter: `id eq "2819C223-7F76-453A-919D-413861904646"`,
			sql:    "users.id = $1",
			args:   []any{"2819c223-7f76-453a-919d-413861904646"},
		},
		{
			name:   "IDEqNotAUUID",
			filter: `id eq "bjensen"`,
			sql:    "FALSE",
		},
		{
			name:   "IDNeNotAUUID",
			filter: `id ne "bjensen"`,
			sql:    "TRUE",
		},
		{
			name:   "IDStartsWith",
			filter: `id sw "2819C2"`,
			sql:    "users.id::text LIKE lower($1::text)",
			args:   []any{"2819C2%"},
		},
		{
			name:   "ExternalIDIsCaseExact",
			filter: `externalId eq "00ujl29u0le5T6Aj10h7"`,
			sql:    "users.external_id = $1",
			args:   []any{"00ujl29u0le5T6Aj10h7"},
		},
		{
			name:   "ActiveEntraString",
			filter: `active eq "True"`,
			sql:    "users.active = $1",
			args:   []any{true},
		},
		{
			name:   "EqNull",
			filter: `externalId eq null`,
			sql:    "NOT COALESCE((users.external_id IS NOT NULL AND users.external_id <> ''), FALSE)",
		},
		{
			name:   "GroupsDisplay",
			filter: `groups.display eq "Admins"`,
			sql:    "EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.member_id = users.id AND lower(g.display_name) = lower($1::text))",
			args:   []any{"Admins"},
		},
		{
			name:   "GroupsValueImplied",
			filter: `groups eq "e9e30dba-f08f-4109-8486-d5c6a331660a"`,
			sql:    "EXISTS (SELECT 1 FROM group_members gm WHERE gm.member_id = users.id AND gm.group_id = $1)",
			args:   []any{"e9e30dba-f08f-4109-8486-d5c6a331660a"},
		},
		{
			name:   "GroupDisplayName",
			rt:     scim.GroupResource,
			filter: `displayName eq "Admins"`,
			sql:    "lower(groups.display_name) = lower($1::text)",
			args:   []any{"Admins"},
		},
		{
			name:   "GroupMembersValue",
			rt:     scim.GroupResource,
			filter: `members.value eq "e9e30dba-f08f-4109-8486-d5c6a331660a"`,
			sql:    "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND m.member_id = $1)",
			args:   []any{"e9e30dba-f08f-4109-8486-d5c6a331660a"},
		},
		{
			name:   "GroupMembersNotAUUID",
			rt:     scim.GroupResource,
			filter: `members eq "bjensen"`,
			sql:    "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND FALSE)",
		},
		{
			// RFC 7644 §3.4.2.1's example of a search at the root: a
			// constant per table, which PostgreSQL folds before scanning.
			name:   "MetaResourceType",
			filter: `meta.resourceType eq "User"`,
			sql:    "lower('User') = lower($1::text)",
			args:   []any{"User"},
		},
		{
			name:   "GroupMetaResourceType",
			rt:     scim.GroupResource,
			filter: `meta.resourceType eq "User" or displayName sw "a"`,
			sql:    "(lower('Group') = lower($1::text) OR lower(groups.display_name) LIKE lower($2::text))",
			args:   []any{"User", "a%"},
		},
		{
			name:   "GroupMembersValueFilter",
			rt:     scim.GroupResource,
			filter: `members[value eq "e9e30dba-f08f-4109-8486-d5c6a331660a" and type eq "User"]`,
			sql:    "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND (m.member_id = $1 AND lower(m.member_type) = lower($2::text)))",
			args:   []any{"e9e30dba-f08f-4109-8486-d5c6a331660a", "User"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			sql, args, err := rt.CompileFilter(tt.filter, tt.offset)
			if err != nil {
				t.Fatalf("CompileFilter(%q): %v", tt.filter, err)
			}
			if sql != tt.sql {
				t.Errorf("CompileFilter(%q) SQL\n got: %s\nwant: %s", tt.filter, sql, tt.sql)
			}
			if len(args) != 0 || len(tt.args) != 0 {
				if !reflect.DeepEqual(args, tt.args) {
					t.Errorf("CompileFilter(%q) args = %#v, want %#v", tt.filter, args, tt.args)
				}
			}
		})
	}
}

// TestCompileFilterRFCExamples compiles every filter example of
// RFC 7644 §3.4.2.2.
func TestCompileFilterRFCExamples(t *testing.T) {
	for _, filter := range []string{
		`userName eq "bjensen"`,
		`name.familyName co "O'Malley"`,
		`userName sw "J"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
		`title pr`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`meta.lastModified ge "2011-05-13T04:42:34Z"`,
		`meta.lastModified lt "2011-05-13T04:42:34Z"`,
		`meta.lastModified le "2011-05-13T04:42:34Z"`,
		`title pr and userType eq "Employee"`,
		`title pr or userType eq "Intern"`,
		`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
		`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		`userType eq "Employee" and (emails.type eq "work")`,
		`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
		`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	} {
		t.Run(filter, func(t *testing.T) {
			if _, _, err := scim.UserResource.CompileFilter(filter, 0); err != nil {
				t.Fatalf("CompileFilter(%q): %v", filter, err)
			}
		})
	}
}

func TestCompileFilterErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rt     *scim.ResourceType
		filter string
	}{
		{"Empty", nil, ``},
		{"Unparseable", nil, `userName eq`},
		{"UnknownOperator", nil, `userName xx "a"`},
		{"UnbalancedParenthesis", nil, `(userName eq "a"`},
		{"UnknownAttribute", nil, `shoeSize eq "42"`},
		{"UnknownSubAttribute", nil, `name.shoeSize eq "42"`},
		{"UnknownSchema", nil, `urn:example:Foo:userName eq "a"`},
		{"Password", nil, `password eq "secret"`},
		{"MetaLocation", nil, `meta.location eq "x"`},
		{"MembersOnUsers", nil, `members pr`},
		{"BadDateTime", nil, `meta.created gt "yesterday"`},
		{"DateTimeNumber", nil, `meta.created gt 5`},
		{"BooleanOrdering", nil, `active gt true`},
		{"BooleanWithString", nil, `active eq "yes"`},
		{"ComplexOrdering", nil, `name gt "a"`},
		{"ComplexWithoutValue", nil, `name eq "a"`},
		{"BinaryOrdering", nil, `x509Certificates.value gt "a"`},
		{"StringWithBoolean", nil, `userName eq true`},
		{"ContainsNull", nil, `userName co null`},
		{"BracketsOnSimpleAttribute", nil, `userName[value eq "a"]`},
		{"BracketsUnknownSub", nil, `emails[shoe eq "a"]`},
		{"BracketsUnknownSubInParentheses", nil, `emails[type eq "work" and (shoe eq "a" or value pr)]`},
		{"BracketsUnbalancedParenthesis", nil, `emails[type eq "work" and (value pr]`},
		{"BracketsUnclosed", nil, `emails[type eq "work" and (value pr)`},
		{"BracketsInBrackets", nil, `emails[type eq "work" and (emails[value pr])]`},
		{"BracketsEmpty", nil, `emails[]`},
		{"BracketsStandInName", nil, `emails[bulkheadValueFilter0 pr]`},
		{"GroupMembersDisplay", scim.GroupResource, `members.display eq "Babs"`},
		{"TooLong", nil, `userName eq "` + strings.Repeat("a", scim.MaxFilterLength) + `"`},
		{"TooDeep", nil, strings.Repeat("(", 40) + `userName eq "a"` + strings.Repeat(")", 40)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			sql, _, err := rt.CompileFilter(tt.filter, 0)
			assertInvalidFilter(t, err)
			if sql != "" {
				t.Errorf("CompileFilter(%q) SQL = %q on error", tt.filter, sql)
			}
		})
	}
}

// TestCompileFilterInjection feeds filters shaped like SQL injections: each
// is refused, or compiles with the dangerous text in the arguments only.
func TestCompileFilterInjection(t *testing.T) {
	for _, tt := range []struct {
		name   string
		filter string
		danger string // must not reach the SQL text
	}{
		{"QuoteInValue", `userName eq "x' OR '1'='1"`, "'1'='1"},
		{"Semicolon", `userName eq "x'; DROP TABLE users; --"`, "DROP TABLE"},
		{"CommentInValue", `displayName co "--"`, "--"},
		{"ClosingParenthesis", `userName eq "x) OR (1=1"`, "1=1"},
		{"Sleep", `userName sw "'||pg_sleep(10)||'"`, "pg_sleep"},
		{"EscapedQuote", `userName eq "a\"b') OR true --"`, "OR true"},
		{"InsideValueFilter", `emails[value eq "x') OR 1=1 --"]`, "1=1"},
		{"JSONKeyValue", `name.givenName eq "'}'); SELECT 1; --"`, "SELECT 1"},
		{"OtherTenantAsAttribute", `tenant_other.users eq "x"`, "tenant_other"},
		{"OtherTenantAsURN", `tenant_other.users:userName eq "x"`, "tenant_other"},
		{"SleepAsAttribute", `pg_sleep(10) pr`, "pg_sleep"},
		{"SemicolonAfterFilter", `userName eq "x"; DROP TABLE users`, "DROP"},
		{"CommentAfterFilter", `userName eq "x" -- comment`, "comment"},
		{"OperatorInjection", `userName eq"x"or 1=1`, "1=1"},
		{"SubqueryAsAttribute", `(SELECT 1) pr`, "SELECT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sql, args, err := scim.UserResource.CompileFilter(tt.filter, 0)
			if err != nil {
				assertInvalidFilter(t, err)
				return
			}
			if strings.Contains(sql, tt.danger) {
				t.Errorf("CompileFilter(%q) put %q in the SQL: %s (args %v)", tt.filter, tt.danger, sql, args)
			}
			assertSafeSQL(t, sql)
		})
	}
}

func assertInvalidFilter(t testing.TB, err error) {
	t.Helper()
	var e *app.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *app.Error", err, err)
	}
	if e.Code != app.EINVALID || e.ScimType != app.ScimInvalidFilter {
		t.Fatalf("error = {%s %s %q}, want code %s, scimType %s", e.Code, e.ScimType, e.Message, app.EINVALID, app.ScimInvalidFilter)
	}
}

// sqlLiteral matches the string literals of generated SQL.
var sqlLiteral = regexp.MustCompile(`'[^']*'`)

// assertSafeSQL checks that sql holds no statement separator or comment and
// that every string literal in it is one the compiler writes itself.
func assertSafeSQL(t testing.TB, sql string) {
	t.Helper()
	if strings.Contains(sql, ";") || strings.Contains(sql, "--") || strings.Contains(sql, "/*") {
		t.Fatalf("SQL holds a separator or comment: %s", sql)
	}
	allowed := map[string]bool{"'null'": true, `'""'`: true, "'[]'": true, "'{}'": true, "'array'": true, "'number'": true, "''": true}
	for _, s := range scim.Schemas {
		allowed["'"+s.ID+"'"] = true
		for _, a := range s.Attributes {
			allowed["'"+a.Name+"'"] = true
			for _, sub := range a.SubAttributes {
				allowed["'"+sub.Name+"'"] = true
			}
		}
	}
	allowed["'schemas'"] = true
	for _, lit := range sqlLiteral.FindAllString(sql, -1) {
		if !allowed[lit] {
			t.Fatalf("SQL holds literal %s the compiler does not write: %s", lit, sql)
		}
	}
	if strings.Count(sql, "'")%2 != 0 {
		t.Fatalf("SQL has an unbalanced quote: %s", sql)
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, seed := range []string{
		`userName eq "bjensen"`,
		`emails[type eq "work" and value co "@example.com"] or not (title pr)`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`,
		`userName eq "x'; DROP TABLE users; --"`,
		`id eq "2819c223-7f76-453a-919d-413861904646" and active eq "True"`,
		`name[givenName sw "\u00e9\"'"]`,
		`((((userName pr))))`,
	} {
		f.Add(seed)
	}
	quoted := regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	f.Fuzz(func(t *testing.T, filter string) {
		for _, rt := range scim.ResourceTypes {
			sql, _, err := rt.CompileFilter(filter, 0)
			if err != nil {
				assertInvalidFilter(t, err)
				continue
			}
			assertSafeSQL(t, sql)
			// With the compiler's own literals taken out, no value holding
			// a quote, semicolon or backslash may be left in the SQL.
			code := sqlLiteral.ReplaceAllString(sql, "?")
			for _, m := range quoted.FindAllStringSubmatch(filter, -1) {
				if v := m[1]; strings.ContainsAny(v, `'\;`) && strings.Contains(code, v) {
					t.Fatalf("value %q of filter %q reached the SQL: %s", v, filter, sql)
				}
			}
		}
	})
}

// TestCompileFilterSubAttrAfterValueFilter: Entra ID's
// emails[type eq "work"].value eq "x", outside RFC 7644's grammar, means
// the same as emails[type eq "work" and value eq "x"].
func TestCompileFilterSubAttrAfterValueFilter(t *testing.T) {
	for _, tt := range []struct{ filter, same string }{
		{`emails[type eq "work"].value eq "a@example.com"`, `emails[type eq "work" and value eq "a@example.com"]`},
		{`emails[type eq "work"].value eq a@example.com`, `emails[type eq "work" and value eq "a@example.com"]`},
		{`EMAILS[TYPE EQ "work"].VALUE SW "a"`, `EMAILS[TYPE EQ "work" and VALUE SW "a"]`},
		{`addresses[type eq "work"].postalCode pr`, `addresses[type eq "work" and postalCode pr]`},
		{`emails[value co "]."].value eq "x" and userName eq "u"`, `emails[value co "]." and value eq "x"] and userName eq "u"`},
		{`emails[type eq "work"].value eq "a" or phoneNumbers[type eq "mobile"].value eq "1"`,
			`emails[type eq "work" and value eq "a"] or phoneNumbers[type eq "mobile" and value eq "1"]`},
		{`emails[type eq "work" or type eq "home"].value eq "a"`, `emails[(type eq "work" or type eq "home") and value eq "a"]`},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			got, gotArgs, err := scim.UserResource.CompileFilter(tt.filter, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, wantArgs, err := scim.UserResource.CompileFilter(tt.same, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || !reflect.DeepEqual(gotArgs, wantArgs) {
				t.Errorf("SQL %s %v\nwant %s %v", got, gotArgs, want, wantArgs)
			}
		})
	}
	for _, bad := range []string{`emails[type eq "work"].value`, `emails[type eq "work"].value eq`, `emails[type eq "work"].nope eq "a"`} {
		_, _, err := scim.UserResource.CompileFilter(bad, 0)
		assertInvalidFilter(t, err)
	}
}

// chain joins n filters made from format (given 0, 1, ...) with " or ".
func chain(format string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(parts, " or ")
}

// TestCompileFilterCost: a filter is refused, with a message naming the
// limit, once it costs more than one limit allows, and accepted at the
// limit.
func TestCompileFilterCost(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rt     *scim.ResourceType
		filter string
		want   string // in the message; "" when accepted
	}{
		{"TermsAtLimit", nil, chain(`userName eq "u%d"`, scim.MaxFilterTerms), ""},
		{"TermsOverLimit", nil, chain(`userName eq "u%d"`, scim.MaxFilterTerms+1),
			fmt.Sprintf("filter too expensive: %d comparisons, at most %d", scim.MaxFilterTerms+1, scim.MaxFilterTerms)},
		{"TermsInsideBrackets", nil, `emails[` + chain(`value eq "u%d"`, scim.MaxFilterTerms+1) + `]`, "comparisons"},
		// Issue #20's chain: its value filters on emails merge into one
		// subquery; it is refused for its substring matches of one or two
		// characters, which the trigram index cannot serve.
		{"IssueTwentyChain", nil, chain(`emails[value co "%d"]`, 100),
			fmt.Sprintf("filter too expensive: 100 substring matches (co, sw, ew) that no index serves, at most %d", scim.MaxFilterScans)},
		{"MergedValueFiltersCountOnce", nil, chain(`emails[value co "x%02d"]`, scim.MaxFilterTerms), ""},
		{"SubqueriesAtLimit", nil, chain(`not (emails[value eq "u%d"])`, scim.MaxFilterSubqueries), ""},
		{"SubqueriesOverLimit", nil, chain(`not (emails[value eq "u%d"])`, scim.MaxFilterSubqueries+1),
			fmt.Sprintf("filter too expensive: %d tests of multi-valued attributes, at most %d", scim.MaxFilterSubqueries+1, scim.MaxFilterSubqueries)},
		{"SubqueriesJoinedByAnd", nil, strings.ReplaceAll(chain(`emails[value eq "u%d"]`, scim.MaxFilterSubqueries+1), " or ", " and "), "tests of multi-valued attributes"},
		{"PresentCountsAsSubquery", nil, strings.Repeat(`emails pr and `, scim.MaxFilterSubqueries) + `emails pr`, "tests of multi-valued attributes"},
		{"GroupMembersOverLimit", scim.GroupResource, chain(`not (members[type eq "User%d"])`, scim.MaxFilterSubqueries+1), "tests of multi-valued attributes"},
		{"ScansAtLimit", nil, chain(`title co "t%d"`, scim.MaxFilterScans), ""},
		{"ScansOverLimit", nil, chain(`title co "t%d"`, scim.MaxFilterScans+1), "substring matches"},
		{"ScansInJSONArray", nil, `ims[` + chain(`value sw "%d"`, scim.MaxFilterScans+1) + `]`, "substring matches"},
		{"ScansOnIDText", nil, chain(`id sw "%d"`, scim.MaxFilterScans+1), "substring matches"},
		{"ShortSubstringOfIndexedColumn", nil, chain(`userName co "%d"`, scim.MaxFilterScans+1), "substring matches"},
		{"TrigramServesThreeCharacters", nil, chain(`userName co "u%02d"`, scim.MaxFilterScans+1), ""},
		{"PrefixIndexServesShortStartsWith", nil, chain(`userName sw "%d"`, scim.MaxFilterScans+1), ""},
		{"EmailsValueIndexed", nil, chain(`emails.value ew "@e%d"`, scim.MaxFilterScans+1), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = scim.UserResource
			}
			_, _, err := rt.CompileFilter(tt.filter, 0)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CompileFilter(%.80q…): %v", tt.filter, err)
				}
				return
			}
			assertInvalidFilter(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestCompileFilterIdPFilters: what identity providers send when they
// provision (Microsoft Entra ID and Okta, as their requests show; value
// filters as they write PATCH paths) compiles well inside every cost
// limit.
func TestCompileFilterIdPFilters(t *testing.T) {
	for _, tt := range []struct {
		rt     *scim.ResourceType
		filter string
	}{
		{scim.UserResource, `userName eq "jdoe@contoso.example"`},
		{scim.UserResource, `userName eq "not a user"`},
		{scim.UserResource, `userName eq jdoe@contoso.example`},
		{scim.UserResource, `externalId eq "00u1a2b3c4d5e6f7g8h9"`},
		{scim.UserResource, `emails[type eq "work"].value eq "jdoe@contoso.example"`},
		{scim.UserResource, `emails[type eq "work"]`},
		{scim.UserResource, `id eq "2819c223-7f76-453a-919d-413861904646"`},
		{scim.GroupResource, `displayName eq "Sales"`},
		{scim.GroupResource, `members[value eq "2819c223-7f76-453a-919d-413861904646"]`},
		{scim.GroupResource, `externalId eq "00g1a2b3c4d5e6f7g8h9"`},
		// The RFC's longest example, with room to spare.
		{scim.UserResource, `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			if _, _, err := tt.rt.CompileFilter(tt.filter, 0); err != nil {
				t.Fatalf("CompileFilter(%q): %v", tt.filter, err)
			}
			// Five of them joined by or still pass: IdPs send one.
			five := strings.TrimSuffix(strings.Repeat("("+tt.filter+") or ", 5), " or ")
			if _, _, err := tt.rt.CompileFilter(five, 0); err != nil {
				t.Fatalf("five of %q: %v", tt.filter, err)
			}
		})
	}
}
