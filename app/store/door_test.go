package store_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// forbidden are the names, by import path, through which code could reach
// the database other than through store.DB: a raw pool or connection, or
// a listener of its own.
var forbidden = map[string][]string{
	"database/sql":                               {"DB", "Conn", "Open", "OpenDB"},
	"github.com/jmoiron/sqlx":                    {"DB", "Conn", "Open", "OpenDB", "Connect", "ConnectContext", "MustOpen", "MustConnect", "NewDb"},
	"github.com/lib/pq":                          {"NewConnector", "NewConnectorConfig", "NewListener", "NewDialListener", "Listener", "Open", "DialOpen", "Driver"},
	"github.com/bulkhead-dev/bulkhead/app/store": {"Scope"}, // only as a composite literal, see below
}

// sessionSettings are the settings that choose whose tables a statement
// reaches: only package store sets them. "SET role = …" is told from an
// UPDATE's "SET role = $2" by standing at the start of a statement.
var sessionSettings = regexp.MustCompile(`(?i)search_path|\bSET\s+(LOCAL\s+|SESSION\s+)?ROLE\s*[^=\s]|\bSET\s+(LOCAL|SESSION)\s+ROLE\b|(^["\x60]|;)\s*SET\s+ROLE\s*=|set_config\s*\(\s*'role'|\bSESSION\s+AUTHORIZATION\b|\bRESET\s+(ROLE|ALL)\b`)

// TestDoorSessionSettings: the door's pattern catches every way of setting
// the search_path or role in SQL, and not an UPDATE of a role column.
func TestDoorSessionSettings(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		sets bool
	}{
		{"`SET LOCAL search_path TO tenant_a`", true},
		{"`SELECT set_config('search_path', $1, true)`", true},
		{"`SET ROLE bulkhead_t_a`", true},
		{"`SET LOCAL ROLE bulkhead_t_a`", true},
		{"`SET role TO bulkhead_t_a`", true},
		{"`SET LOCAL role = 'bulkhead_t_a'`", true},
		{"`SET SESSION role = 'bulkhead_t_a'`", true},
		{"`SET role = 'bulkhead_t_a'`", true},
		{"`SELECT 1; SET role = 'bulkhead_t_a'`", true},
		{"`SELECT set_config('role', $1, true)`", true},
		{"`SET SESSION AUTHORIZATION bulkhead_t_a`", true},
		{"`RESET ROLE`", true},
		{"`RESET ALL`", true},
		{"`UPDATE control.staff SET role = $2 WHERE id = $1`", false},
		{"`SELECT set_config('lock_timeout', $1, true)`", false},
		{`"role"`, false},
	} {
		if got := sessionSettings.MatchString(tt.sql); got != tt.sets {
			t.Errorf("%s: matched %v, want %v", tt.sql, got, tt.sets)
		}
	}
}

// TestTheDoor fails when a package outside app/store could reach tenant
// tables another way than store.InTenant: holding a raw pool or connection
// (database/sql, sqlx, lib/pq's connectors and listeners), setting the
// search_path or role itself, or building a store.Scope by hand instead of
// taking the tenant's (store.ScopeOf), which would drop a strict tenant's
// role. It reads every non-test Go file of the module outside app/store.
func TestTheDoor(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("app", "store") || rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		for _, v := range doorViolations(t, path) {
			t.Errorf("%s: %s", rel, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files under %s; the walk missed the module", files, root)
	}
}

func doorViolations(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // local name -> import path
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if _, ok := forbidden[p]; !ok {
			continue
		}
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		names[name] = p
	}
	var out []string
	at := func(n ast.Node) string { p := fset.Position(n.Pos()); return fmt.Sprintf("%d:%d", p.Line, p.Column) }
	// isScope reports whether a type expression is store.Scope.
	isScope := func(e ast.Expr) bool {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Scope" {
			return false
		}
		id, ok := sel.X.(*ast.Ident)
		return ok && strings.HasSuffix(names[id.Name], "/app/store")
	}
	const byHand = ": store.Scope built by hand; take the tenant's (Tenant.Scope, store.LookupScope)"
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if isScope(n.Type) {
				out = append(out, at(n)+byHand)
			}
		case *ast.ValueSpec: // var sc store.Scope, then its fields set one by one
			if n.Type != nil && isScope(n.Type) {
				out = append(out, at(n)+byHand)
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 && isScope(n.Args[0]) {
				out = append(out, at(n)+byHand)
			}
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok || strings.HasSuffix(names[id.Name], "/app/store") {
				return true
			}
			for _, name := range forbidden[names[id.Name]] {
				if n.Sel.Name == name {
					out = append(out, at(n)+": uses "+names[id.Name]+"."+name+"; reach the database through store.DB")
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING && sessionSettings.MatchString(n.Value) {
				out = append(out, at(n)+": sets the search_path or role; only package store does (store.InTenant)")
			}
		}
		return true
	})
	return out
}

// TestDoorCatchesHandBuiltScopes: a scope made from a literal, a zero
// value or new, and a raw connection, are each a violation; a scope taken
// from the tenant is not.
func TestDoorCatchesHandBuiltScopes(t *testing.T) {
	const src = `package x

import (
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/lib/pq"
)

func f(db *store.DB, id, isolation string) {
	_ = store.Scope{TenantID: id}
	var sc store.Scope
	sc.TenantID = id
	p := new(store.Scope)
	_, _ = sc, p
	_ = store.ScopeOf(id, isolation)
	_, _ = pq.Open("")
}
`
	path := filepath.Join(t.TempDir(), "x.go")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := doorViolations(t, path)
	for _, want := range []string{"9:6: store.Scope built by hand", "10:6: store.Scope built by hand", "12:7: store.Scope built by hand", "15:9: uses github.com/lib/pq.Open"} {
		if !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("no violation %q among %q", want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d violations, want 4: %q", len(got), got)
	}
}

// TestControlHandleCannotReachTenantTables: a statement through the
// control plane's handle, DB's own methods or Transact, runs outside every
// tenant's schema, so a tenant table named plainly does not exist there,
// while the same statement through InTenant finds it.
func TestControlHandleCannotReachTenantTables(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	tn := createTenants(t, tenant.NewService(db), 1, false)[0]
	const q = `SELECT count(*) FROM users`
	var n int
	for _, tt := range []struct {
		name string
		run  func() error
	}{
		{"GetContext", func() error { return db.GetContext(ctx, &n, q) }},
		{"Transact", func() error {
			return db.Transact(ctx, func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &n, q) })
		}},
		{"Control", func() error {
			return db.Control(ctx, func(c sqlx.QueryerContext) error { return sqlx.GetContext(ctx, c, &n, q) })
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var pqErr *pq.Error
			if err := tt.run(); !errors.As(err, &pqErr) || pqErr.Code != "42P01" {
				t.Fatalf("a tenant table through the control handle: %v, want undefined_table (42P01)", err)
			}
		})
	}
	if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &n, q) }); err != nil {
		t.Fatalf("the same statement in the tenant: %v", err)
	}
}

// TestLookupScope: the scope looked up by id puts a strict tenant under its
// role, as Tenant.Scope does, so that it cannot read the control plane;
// only the named exception, Owner, runs without it; an unknown tenant is
// not found.
func TestLookupScope(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	if _, _, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "locked", Strict: true}, "test"); err != nil {
		t.Fatal(err)
	}
	sc, err := db.LookupScope(ctx, "locked")
	if err != nil {
		t.Fatal(err)
	}
	readControl := func(sc store.Scope) error {
		return db.InTenant(ctx, sc, func(tx *sqlx.Tx) error {
			var n int
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM control.tokens`)
		})
	}
	var pqErr *pq.Error
	if err := readControl(sc); !errors.As(err, &pqErr) || pqErr.Code != "42501" {
		t.Fatalf("strict tenant by id reading control.tokens: %v, want permission denied (42501)", err)
	}
	sc.Owner = true
	if err := readControl(sc); err != nil {
		t.Fatalf("as the owner: %v", err)
	}
	if _, err := db.LookupScope(ctx, "nosuch"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("unknown tenant: %v, want ENOTFOUND", err)
	}
}
