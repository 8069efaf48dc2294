// Package storetest gives tests a real PostgreSQL database of their own.
//
// With DATABASE_URL set, test databases are created on that server (its role
// needs CREATEDB). Otherwise the project-local cluster under the repository's
// .bulkhead/test directory is started (or joined, when another test binary already
// runs it) and stopped by the last test binary to finish. No test skips for
// want of a database.
//
// With BULKHEAD_TEST_PGBOUNCER=1 (make test-pgbouncer), each test binary
// starts PgBouncer in transaction pooling mode in front of that server and
// every test connects through it, which proves that nothing in Bulkhead
// depends on session state surviving between transactions.
//
// A package using it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/localpg"
)

var (
	mu      sync.Mutex
	cluster *localpg.Cluster // nil with DATABASE_URL
	admin   string           // URL of a database to run CREATE DATABASE from
	direct  string           // admin without PgBouncer in front
	created []string
	// stopBouncer stops the PgBouncer this binary started, if any.
	stopBouncer = func() {}
)

// Main runs the tests with a database server available, then drops the
// databases they created and releases the local cluster.
func Main(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	teardown()
	os.Exit(code)
}

func setup() error {
	if err := setupServer(); err != nil {
		return err
	}
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") == "" {
		return nil
	}
	direct = admin
	through, stop, err := startPgBouncer(admin)
	if err != nil {
		return err
	}
	admin, stopBouncer = through, stop
	// Every pool the tests open, also the server's and the CLI's in
	// process, then knows it talks to a transaction pooler.
	return os.Setenv("BULKHEAD_TRANSACTION_POOLER", "on")
}

func setupServer() error {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		admin, direct = u, u
		return nil
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cluster, err = localpg.Open(filepath.Join(root, ".bulkhead", "test"), localpg.Options{Detached: true, Fast: true})
	if err != nil {
		return err
	}
	admin = cluster.URL("postgres")
	direct = admin
	return nil
}

func teardown() {
	if shared.db != nil {
		shared.db.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if db, err := sql.Open("postgres", admin); err == nil {
		for _, name := range created {
			_, _ = db.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(name) + ` WITH (FORCE)`)
		}
		db.Close()
	}
	stopBouncer()
	if cluster != nil {
		_ = cluster.Close()
	}
}

// URL creates an empty database and returns its connection URL. The
// database is dropped when the test binary ends.
func URL(tb testing.TB) string {
	tb.Helper()
	return withDatabase(admin, newDatabase(tb))
}

// newDatabase creates an empty database and returns its name.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	if admin == "" {
		tb.Fatal("storetest: call storetest.Main from TestMain")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bulkhead_test_" + hex.EncodeToString(b)
	// Straight to the server: creating the database is the test's setup,
	// not what it tests, and PgBouncer 1.18 sometimes restarts (see
	// startPgBouncer), which would fail a test before it began.
	db, err := sql.Open("postgres", direct)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE ` + pq.QuoteIdentifier(name)); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	mu.Lock()
	created = append(created, name)
	mu.Unlock()
	return name
}

// NewDB returns a pool on a new database with the control plane migrated.
func NewDB(tb testing.TB) *store.DB {
	tb.Helper()
	return newDB(tb, false)
}

// NewListeningDB is NewDB with its LISTEN connection (store.DB.Subscribe)
// straight to the server also when the pool goes through PgBouncer, as a
// deployment behind a transaction pooler sets Options.ListenDSN.
func NewListeningDB(tb testing.TB) *store.DB {
	tb.Helper()
	return newDB(tb, true)
}

func newDB(tb testing.TB, listenDirect bool) *store.DB {
	tb.Helper()
	name := newDatabase(tb)
	var opts store.Options
	if listenDirect {
		opts.ListenDSN = withDatabase(direct, name)
	}
	db, err := store.Open(context.Background(), withDatabase(admin, name), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.MigrateControl(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

var shared struct {
	once sync.Once
	db   *store.DB
	err  error
}

// SharedDB returns a database shared by all the tests of the binary that
// ask for it, created on first use with the control plane migrated and
// closed when Main ends. Tests sharing it keep apart by using tenants of
// their own.
func SharedDB(tb testing.TB) *store.DB {
	tb.Helper()
	shared.once.Do(func() {
		shared.db, shared.err = store.Open(context.Background(), URL(tb), store.Options{})
		if shared.err == nil {
			_, shared.err = shared.db.MigrateControl(context.Background())
		}
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.db
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return strings.TrimSpace(dsn) + " dbname=" + name // key=value form: the last key wins
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
