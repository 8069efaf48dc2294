package scim_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/scim/scimtest"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// seeded is one tenant filled with n users (user00000 … with work and home
// emails, every tenth inactive) and groups, by SQL for speed.
type seeded struct {
	db    *store.DB
	scope store.Scope
}

var big struct {
	once sync.Once
	s    seeded
}

// seedTenant creates a tenant with users and groups, shared by the tests of
// this file.
func seedTenant(t *testing.T) seeded {
	t.Helper()
	big.once.Do(func() {
		db := storetest.SharedDB(t)
		tn, _, err := tenant.NewService(db).CreateTenant(context.Background(), tenant.NewTenant{ID: "seeded"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		big.s = seeded{db: db, scope: tn.Scope()}
		if err := scimtest.SeedUsers(context.Background(), db, tn.Scope(), 20000); err != nil {
			t.Fatal(err)
		}
	})
	if big.s.db == nil {
		t.Fatal("seeding failed in another test")
	}
	return big.s
}

// TestFilterPlansUseIndexes: the filters IdPs send most never scan a whole
// table of a large tenant.
func TestFilterPlansUseIndexes(t *testing.T) {
	s := seedTenant(t)
	ctx := context.Background()
	for _, tt := range []struct {
		rt     *scim.ResourceType
		filter string
	}{
		{scim.UserResource, `userName eq "user012345"`},
		{scim.UserResource, `userName sw "user0123"`},
		{scim.UserResource, `userName co "r01234"`},
		{scim.UserResource, `externalId eq "ext-77"`},
		{scim.UserResource, `emails.value eq "user77@company27.example"`},
		{scim.UserResource, `emails[type eq "work" and value co "user1234@"]`},
		{scim.UserResource, `emails.value sw "home1234"`},
		{scim.UserResource, `id eq "2819c223-7f76-453a-919d-413861904646"`},
		{scim.GroupResource, `displayName eq "group 17"`},
		{scim.GroupResource, `members[value eq "2819c223-7f76-453a-919d-413861904646"]`},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			where, args, err := tt.rt.CompileFilter(tt.filter, 0)
			if err != nil {
				t.Fatal(err)
			}
			table := strings.ToLower(tt.rt.Name) + "s"
			var plan []byte
			err = s.db.InTenant(ctx, s.scope, func(tx *sqlx.Tx) error {
				return tx.GetContext(ctx, &plan, `EXPLAIN (FORMAT JSON) SELECT id FROM `+table+` WHERE `+where, args...)
			})
			if err != nil {
				t.Fatal(err)
			}
			var nodes []map[string]any
			var walk func(any)
			walk = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if _, ok := v["Node Type"]; ok {
						nodes = append(nodes, v)
					}
					for _, e := range v {
						walk(e)
					}
				case []any:
					for _, e := range v {
						walk(e)
					}
				}
			}
			var doc any
			if err := json.Unmarshal(plan, &doc); err != nil {
				t.Fatal(err)
			}
			walk(doc)
			usesIndex := false
			for _, n := range nodes {
				if n["Node Type"] == "Seq Scan" {
					t.Errorf("sequential scan of %v:\n%s", n["Relation Name"], plan)
				}
				if strings.Contains(n["Node Type"].(string), "Index") {
					usesIndex = true
				}
			}
			if !usesIndex {
				t.Errorf("no index used:\n%s", plan)
			}
		})
	}
}

// TestFiltersRunOnPostgreSQL runs a wide set of compiled filters against the
// real tables: each must execute, and give the count computed here.
func TestFiltersRunOnPostgreSQL(t *testing.T) {
	s := seedTenant(t)
	ctx := context.Background()
	for _, tt := range []struct {
		rt     *scim.ResourceType
		filter string
		want   int
	}{
		{scim.UserResource, `userName eq "USER000001"`, 1},
		{scim.UserResource, `active eq false`, 2000},
		{scim.UserResource, `active eq true and userName sw "user0000"`, 90},
		{scim.UserResource, `name.familyName eq "family1"`, 21},
		{scim.UserResource, `name.givenName co "iven1999"`, 11},
		{scim.UserResource, `emails[type eq "home" and value ew "@mail.example"]`, 20000},
		{scim.UserResource, `emails.primary eq true and emails.value co "@company7.example"`, 400},
		{scim.UserResource, `not (emails pr)`, 0},
		{scim.UserResource, `groups pr`, 10000},
		{scim.UserResource, `groups.display eq "group 1"`, 5},
		{scim.UserResource, `meta.created le "2999-01-01T00:00:00Z"`, 20000},
		{scim.UserResource, `displayName gt "user 9999" and displayName lt "user 9999z"`, 0 + 0},
		{scim.UserResource, `title pr or nickName pr or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr`, 0},
		{scim.UserResource, `phoneNumbers[type eq "work" and value pr]`, 0},
		// Any filter inside brackets, applied to one value at a time.
		{scim.UserResource, `emails[type eq "work" and (value ew "@company7.example" or value ew "@company8.example")]`, 800},
		{scim.UserResource, `emails[type eq "home" and (value ew "@company7.example" or primary eq true)]`, 0},
		{scim.UserResource, `emails[value ew "@company7.example" or value ew "@company8.example" or value ew "@company9.example"]`, 1200},
		{scim.UserResource, `emails[not (type eq "work") and value ew "@company7.example"]`, 0},
		{scim.UserResource, `emails[(type eq "work")] and emails[(type eq "home")]`, 20000},
		{scim.UserResource, `emails[type eq "work" or type eq "other"].value ew "@mail.example"`, 0},
		{scim.UserResource, `emails[type eq "work" or type eq "home"].value ew "@mail.example"`, 20000},
		{scim.UserResource, `meta.resourceType eq "User"`, 20000},
		{scim.UserResource, `meta.resourceType eq "Group"`, 0},
		{scim.UserResource, `(meta.resourceType eq "User") and userName sw "USER00001"`, 10},
		{scim.GroupResource, `meta.resourceType eq "Group" and displayName sw "group 1"`, 1111},
		{scim.GroupResource, `displayName sw "group 1"`, 1111},
		{scim.GroupResource, `members pr`, 2000},
		{scim.GroupResource, `members.type eq "User"`, 2000},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			var res *scim.ListResult
			err := s.db.InTenant(ctx, s.scope, func(tx *sqlx.Tx) (err error) {
				res, err = scim.FindResources(ctx, tx, tt.rt, scim.ListQuery{Filter: tt.filter, Count: 5, Members: true})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tt.want {
				t.Errorf("total %d, want %d", res.Total, tt.want)
			}
		})
	}
}

// TestFindResourcesAcrossTypes: in a search at the root, an attribute one
// type lacks is unassigned in its resources, so an or with a term the type
// has still finds them; an attribute no type has is an error for each.
func TestFindResourcesAcrossTypes(t *testing.T) {
	s := seedTenant(t)
	ctx := context.Background()
	both := []*scim.ResourceType{scim.UserResource, scim.GroupResource}
	find := func(rt *scim.ResourceType, filter string) (int, error) {
		var res *scim.ListResult
		err := s.db.InTenant(ctx, s.scope, func(tx *sqlx.Tx) (err error) {
			res, err = scim.FindResources(ctx, tx, rt, scim.ListQuery{Filter: filter, Count: 5, Across: both})
			return err
		})
		if err != nil {
			return 0, err
		}
		return res.Total, nil
	}
	for _, tt := range []struct {
		filter      string
		users, grps int
	}{
		{`meta.resourceType eq "User"`, 20000, 0},
		{`meta.resourceType eq "Group" or userName eq "USER000001"`, 1, 2000},
		{`(meta.resourceType eq "User") and userName sw "USER00001"`, 10, 0},
		{`not (userName eq "USER000001") and displayName sw "group 1"`, 0, 1111},
		{`members pr or emails[type eq "work" and value ew "@company7.example"]`, 400, 2000},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			users, err := find(scim.UserResource, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			grps, err := find(scim.GroupResource, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if users != tt.users || grps != tt.grps {
				t.Errorf("users %d, groups %d; want %d, %d", users, grps, tt.users, tt.grps)
			}
		})
	}
	for _, rt := range both {
		_, err := find(rt, `meta.resourceType eq "User" or shoeSize eq 42`)
		assertInvalidFilter(t, err)
	}
}
