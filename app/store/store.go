// Package store owns Bulkhead's one PostgreSQL connection pool and the only
// two ways to use it: Transact for the control plane and InTenant for a
// tenant's schema. It also runs the migrations embedded in package schema and
// creates and drops tenant schemas.
package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store/pool"
)

// DB is the connection pool shared by the control plane and every tenant.
// Its query methods (GetContext, SelectContext, ExecContext and the rest of
// sqlx.ExtContext) are the control plane's handle: they run outside any
// tenant transaction, with the connection's default search_path, where no
// tenant table is reachable by its plain name. Tenant tables are reached
// only through InTenant and InTenantTx; DB hands out no raw pool or
// connection (the door test in package store checks the packages outside).
type DB struct {
	sdb *sqlx.DB
	// DSN is the connection string the pool was opened with.
	DSN string
	// ListenDSN is the connection string for LISTEN, which needs a
	// session of its own: Options.ListenDSN, or DSN when that is empty.
	ListenDSN string
	// rolePrefix makes per-tenant role names unique per database: roles are
	// cluster-wide, schemas are not.
	rolePrefix string
	opts       Options
	citus      bool // create tenant schemas as Citus distributed schemas
	// pool holds the connection machinery (package pool): the same
	// database/sql pool as DB, its lanes, shares and prepared lookups.
	pool *pool.Pool
	// listen is the process's one LISTEN connection (Subscribe).
	listen *listener
}

// Options tune the pool.
type Options struct {
	MaxOpenConns int // default DefaultMaxOpenConns
	// StatementTimeout bounds a whole tenant transaction, all its
	// statements together, so that one slow tenant cannot hold connections;
	// default 10s. Scope.Timeout overrides it per transaction.
	StatementTimeout time.Duration
	// TenantConns is how many tenant transactions of one tenant may run at
	// once (see package pool); default DefaultTenantConns(MaxOpenConns), negative
	// for no limit.
	TenantConns int
	// TenantWait is how long a tenant transaction waits for a place in its
	// tenant's share before it is refused with ETOOMANY; default 1s.
	TenantWait time.Duration
	// AcquireTimeout bounds the wait for a free connection when all are
	// busy: past it a request gets EUNAVAILABLE (503) instead of queuing
	// without end; default 3s.
	AcquireTimeout time.Duration
	// MaxIdleConns is how many connections stay open while idle; default
	// MaxOpenConns / 2.
	MaxIdleConns int
	// ConnMaxLifetime and ConnMaxIdleTime recycle connections; defaults
	// DefaultConnMaxLifetime and DefaultConnMaxIdleTime.
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// Lanes is how many connections each serve a fixed share of the
	// tenants, so that a backend keeps the catalog of its share warm (see
	// package pool); default half of MaxOpenConns, negative for none.
	// Off with TransactionPooler.
	Lanes int
	// LaneWait is how long a tenant transaction waits for its lane while
	// another tenant's transaction holds it, before it takes a pooled
	// connection instead; default pool.DefaultLaneWait.
	LaneWait time.Duration
	// MaxConnSchemas closes a connection once it has worked in this many
	// distinct tenant or spare schemas (entered them in a tenant
	// transaction, or built or migrated them); default
	// DefaultMaxConnSchemas, negative for no limit.
	MaxConnSchemas int
	// CitusSchemas creates new tenant schemas as Citus distributed schemas
	// (schema-based sharding) when the citus extension is installed; without
	// the extension it has no effect. See docs/scaling.md.
	CitusSchemas bool
	// TransactionPooler says that the DSN goes through a transaction
	// pooler such as PgBouncer in transaction mode: statements with
	// parameters outside a transaction then run in one of their own, and
	// lookups are not prepared (see package pool). Also on when the
	// environment has BULKHEAD_TRANSACTION_POOLER=on.
	TransactionPooler bool
	// ListenDSN is a direct connection string for the process's one
	// LISTEN connection (Subscribe), for deployments whose DSN goes
	// through a transaction pooler such as PgBouncer, where LISTEN does not
	// work. Empty: use the DSN.
	ListenDSN string
}

// Connection recycling. A backend's catalog caches grow with every tenant
// table it touches (about 118 MB after all tables of 1,000 tenants) and are
// freed only when the connection closes. Time does not bound that: a
// connection serving hundreds of transactions a second over random tenants
// reaches thousands of schemas within minutes, and a backend holding the
// caches of thousands of schemas is slow as well as large (see
// docs/scaling.md). So a connection is closed once it has worked in
// DefaultMaxConnSchemas schemas. Counting schemas rather than transactions
// or minutes bounds exactly what grows, and keeps a connection that serves
// the same tenants again and again, whose caches are warm (lanes, in
// package pool).
//
// Connections are also replaced after DefaultConnMaxLifetime, so that they
// spread again over the servers behind a DSN after a failover and pick up
// changed server settings, and closed after DefaultConnMaxIdleTime idle. The
// lifetime is long against what warming a backend costs: at 500 requests a
// second over 10,000 tenants, a lane's backend needs about a minute to have
// seen most of its share; opening the connection itself costs a few
// milliseconds (fork and authentication).
const (
	// DefaultMaxOpenConns is the pool's size: half of it lanes, half for
	// the rest.
	DefaultMaxOpenConns    = 30
	DefaultConnMaxLifetime = 30 * time.Minute
	DefaultConnMaxIdleTime = time.Minute
	DefaultMaxConnSchemas  = 1000
)

// DefaultTenantConns is the share of a pool of maxOpen connections that one
// tenant may hold at once: a quarter, at least one.
func DefaultTenantConns(maxOpen int) int { return max(maxOpen/4, 1) }

// Open connects to the database at dsn and checks that it answers. Errors
// name what failed in words an operator can act on.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = DefaultMaxOpenConns
	}
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = 10 * time.Second
	}
	if opts.AcquireTimeout == 0 {
		opts.AcquireTimeout = 3 * time.Second
	}
	if opts.TenantConns == 0 {
		opts.TenantConns = DefaultTenantConns(opts.MaxOpenConns)
	}
	if opts.TenantWait == 0 {
		opts.TenantWait = time.Second
	}
	if opts.MaxIdleConns == 0 {
		opts.MaxIdleConns = max(opts.MaxOpenConns/2, 2)
	}
	if opts.ConnMaxLifetime == 0 {
		opts.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if opts.ConnMaxIdleTime == 0 {
		opts.ConnMaxIdleTime = DefaultConnMaxIdleTime
	}
	if opts.MaxConnSchemas == 0 {
		opts.MaxConnSchemas = DefaultMaxConnSchemas
	}
	if opts.LaneWait == 0 {
		opts.LaneWait = pool.DefaultLaneWait
	}
	if opts.Lanes == 0 {
		opts.Lanes = max(opts.MaxOpenConns/2, 1)
	}
	listen := opts.ListenDSN
	if listen == "" {
		listen = dsn
	}
	p, err := pool.Open(dsn, pool.Config{
		MaxOpenConns: opts.MaxOpenConns, MaxIdleConns: opts.MaxIdleConns,
		ConnMaxLifetime: opts.ConnMaxLifetime, ConnMaxIdleTime: opts.ConnMaxIdleTime,
		AcquireTimeout: opts.AcquireTimeout,
		Lanes:          max(opts.Lanes, 0), LaneWait: opts.LaneWait,
		MaxConnSchemas: max(opts.MaxConnSchemas, 0),
		TenantConns:    max(opts.TenantConns, 0), TenantWait: opts.TenantWait,
		TransactionPooler: opts.TransactionPooler || os.Getenv("BULKHEAD_TRANSACTION_POOLER") == "on",
	})
	if err != nil {
		return nil, err
	}
	sdb := p.DB
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var dbname string
	if err := sdb.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbname); err != nil {
		p.Close()
		return nil, fmt.Errorf("connect to the database: %w", describe(err))
	}
	h := sha256.Sum256([]byte(dbname))
	var citus bool
	if opts.CitusSchemas {
		if err := sdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
			p.Close()
			return nil, fmt.Errorf("look for the citus extension: %w", err)
		}
	}
	return &DB{sdb: sdb, DSN: dsn, ListenDSN: listen, rolePrefix: "bulkhead_" + hex.EncodeToString(h[:4]) + "_", opts: opts, citus: citus, pool: p,
		listen: &listener{dsn: listen, subs: map[string]map[*subscription]struct{}{}}}, nil
}

// Close gives back the lanes' connections and closes the pool.
func (db *DB) Close() error { return db.pool.Close() }

// LaneStats counts what the tenant lanes did since the pool was opened
// (see package pool); callers outside store name it here.
type LaneStats = pool.LaneStats

// LaneStats reports what the tenant lanes did since the pool opened.
func (db *DB) LaneStats() LaneStats { return db.pool.LaneStats() }

// AnnounceMigration tells the servers on the database that tenant schemas
// are being migrated, now and every few seconds until the returned function
// is called, which says that the migration ended: they stop preparing
// lookups meanwhile (see FollowMigrations).
func (db *DB) AnnounceMigration(ctx context.Context) (end func()) {
	return db.pool.AnnounceMigration(ctx)
}

// describe turns the most common connection failures into plain words.
func describe(err error) error {
	var netErr *net.OpError
	var pqErr *pq.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens at the address in DATABASE_URL (%w)", err)
	case errors.As(err, &netErr):
		return fmt.Errorf("cannot reach the database server (%w)", err)
	case errors.As(err, &pqErr) && pqErr.Code == "28P01":
		return fmt.Errorf("the password in DATABASE_URL is wrong (%w)", err)
	case errors.As(err, &pqErr) && pqErr.Code == "3D000":
		return fmt.Errorf("the database in DATABASE_URL does not exist (%w)", err)
	}
	return err
}

// Transact runs fn in a control-plane transaction. It commits when fn
// returns nil and rolls back when fn returns an error or panics. When no
// connection frees up within the acquire timeout, or the database fails
// under it, the error is EUNAVAILABLE.
func (db *DB) Transact(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	conn, err := db.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return transact(ctx, conn, pool.TxOptions{}, fn)
}

// transact runs fn in a transaction begun on conn with opts, whose settings
// (SET LOCAL …) travel without parameters together with BEGIN, so that
// beginning costs one round trip (see pool.Begin).
func transact(ctx context.Context, conn *sqlx.Conn, opts pool.TxOptions, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := pool.Begin(ctx, conn, opts)
	if err != nil {
		return Unavailable(err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
			err = Unavailable(err)
			return
		}
		if err = tx.Commit(); err != nil {
			err = fmt.Errorf("commit: %w", Unavailable(err))
		}
	}()
	return fn(tx)
}

// conn takes a connection from the pool for the caller's sole use; close
// it to give it back. When none frees up within the acquire timeout it
// returns EUNAVAILABLE at once rather than queuing until ctx ends.
func (db *DB) conn(ctx context.Context) (*sqlx.Conn, error) {
	conn, err := db.pool.Conn(ctx)
	return conn, Unavailable(err)
}

// Scope names the tenant a transaction works in, and how the transaction
// may run there.
type Scope struct {
	TenantID string
	// Strict tenants also run under their own database role, which can use
	// only their schema. Take it from ScopeOf or LookupScope, never by hand.
	Strict bool
	// Owner runs the transaction as the schema's owner, without the strict
	// tenant's role: the deliberate exceptions, work that role may not do,
	// named where they happen (creating a schema extension's indexes,
	// exporting the tenant with its control rows).
	Owner bool
	// Timeout bounds the whole transaction: PostgreSQL stops any statement
	// that runs past it, and the caller's context is cancelled at it, which
	// cancels the statement running then on the server. 0 means
	// Options.StatementTimeout; negative means no bound, for work that is
	// as long as the tenant is large (an export) or sets its own.
	Timeout time.Duration
	// LookupsOnly says that the transaction runs lookups (see Lookup) and
	// nothing else, such as reading one resource by id: its lookups then
	// use their generic plan from the first run, and any other statement
	// fails (pool.TxOptions.LookupsOnly says why).
	LookupsOnly bool
}

// IsolationStrict is the isolation, in control.tenants, of tenants that
// run under their own role.
const IsolationStrict = "strict"

// ScopeOf returns the scope of the tenant whose control row has id and
// isolation: the one place where a tenant's isolation becomes its role.
func ScopeOf(tenantID, isolation string) Scope {
	return Scope{TenantID: tenantID, Strict: isolation == IsolationStrict}
}

// LookupScope returns the scope of tenant id as its control row says, for
// callers that know only the id. It returns ENOTFOUND when the tenant has
// no row.
func (db *DB) LookupScope(ctx context.Context, tenantID string) (Scope, error) {
	var isolation string
	err := db.GetContext(ctx, &isolation, `SELECT isolation FROM control.tenants WHERE id = $1`, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return Scope{}, app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
	}
	if err != nil {
		return Scope{}, fmt.Errorf("look up tenant %q: %w", tenantID, Unavailable(err))
	}
	return ScopeOf(tenantID, isolation), nil
}

// InControlTx runs fn inside tx, a control-plane transaction of Transact,
// with the search_path of the tenant's schema, and sets the path back
// after it: for importing a tenant, whose control rows, schema and data are
// created in one transaction, so that a failed import leaves nothing. fn
// runs as the schema's owner, whatever the tenant's isolation: the import
// writes the tenant's control rows too, which its role may not.
func InControlTx(ctx context.Context, tx *sqlx.Tx, tenantID string, fn func() error) error {
	if !ValidTenantID(tenantID) {
		return app.Errorf(app.EINVALID, "invalid tenant id %q", tenantID)
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO `+pq.QuoteIdentifier(SchemaName(tenantID))); err != nil {
		return fmt.Errorf("enter %s: %w", SchemaName(tenantID), err)
	}
	if err := fn(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO DEFAULT`); err != nil {
		return fmt.Errorf("leave %s: %w", SchemaName(tenantID), err)
	}
	return nil
}

// Lookup returns ctx marking the queries run with it in a tenant
// transaction as lookups: statements a tenant runs again and again with
// other values, such as reading a resource by id, which then run as
// statements prepared per tenant and connection (see pool.Lookup). It is
// a mark on the context, not an option, because it belongs to one
// statement, and database/sql hands the driver nothing else for one.
func Lookup(ctx context.Context) context.Context { return pool.Lookup(ctx) }

// Final returns ctx marking the statement run with it in a tenant
// transaction as the transaction's last: its COMMIT travels with it, in
// one round trip (see pool.Final). Nothing may run after it, and the
// transaction has committed unless that statement failed, so mark only a
// statement after which nothing can fail: a write whose work is one
// statement, run alone. The statement is prepared by its text once per
// connection and tenant, so mark only SQL whose text repeats (values as
// parameters).
func Final(ctx context.Context) context.Context { return pool.Final(ctx) }

// Pending is SQL without parameters, such as a SAVEPOINT, to be sent
// before the next statement of a tenant transaction (Before).
type Pending = pool.Pending

// Before returns ctx marking the first statement run with it (or a context
// derived from it) in a tenant transaction to be preceded by p.SQL, in the
// same round trip (see pool.Before); p.Sent then says that it went. Use it
// for SQL that sets something up for the statements after it and cannot
// fail by itself, such as a savepoint.
func Before(ctx context.Context, p *Pending) context.Context { return pool.Before(ctx, p) }

// RoundTrips returns how many round trips to the database the pool's
// connections have made since it opened (see pool.Pool.RoundTrips).
func (db *DB) RoundTrips() int64 { return db.pool.RoundTrips() }

// InTenant runs fn in a transaction confined to the tenant's schema: the
// search_path is set with SET LOCAL, so it ends with the transaction and never
// leaks to the next user of the pooled connection (also behind PgBouncer in
// transaction mode). For strict tenants the transaction also switches to the
// tenant's role, so that even SQL naming another schema is refused by
// PostgreSQL. It commits when fn returns nil and rolls back when fn returns an
// error or panics.
//
// BEGIN and these settings travel as one simple-protocol query (see
// pool.Begin), so entering a tenant costs one round trip.
//
// InTenant is the only way Bulkhead touches tenant tables.
func (db *DB) InTenant(ctx context.Context, s Scope, fn func(tx *sqlx.Tx) error) error {
	return db.InTenantTx(ctx, s, nil, fn)
}

// InTenantTx is InTenant with transaction options, such as a REPEATABLE
// READ snapshot for an export.
func (db *DB) InTenantTx(ctx context.Context, s Scope, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) error {
	return db.inTenant(ctx, s, opts, false, func(ctx context.Context, conn *sqlx.Conn, topts pool.TxOptions) error {
		return transact(ctx, conn, topts, fn)
	})
}

// InTenantLookup is InTenant for a transaction that reads with one
// lookup and nothing else, such as reading one resource by id: fn runs
// that statement on q, under the context it is given, which marks it as
// a lookup (see Lookup). It is sent with the transaction's settings in
// one round trip and one implicit transaction, without BEGIN or COMMIT
// (pool.TxOptions.OneLookup), with everything InTenant gives a
// transaction (search_path, role, tenant lock, timeout), and without
// database/sql's transaction and the goroutines it starts (pool.One). A
// second statement fails with pool.ErrOneLookup.
func (db *DB) InTenantLookup(ctx context.Context, s Scope, fn func(ctx context.Context, q sqlx.QueryerContext) error) error {
	return db.oneStatement(ctx, s, false, fn)
}

// InTenantSearch is InTenantLookup for one statement whose text varies
// from request to request, such as a search by a filter: it goes in the
// same one round trip, is prepared among a bounded few per connection, and
// is planned in PostgreSQL's own plan mode (pool.TxOptions.Search).
func (db *DB) InTenantSearch(ctx context.Context, s Scope, fn func(ctx context.Context, q sqlx.QueryerContext) error) error {
	return db.oneStatement(ctx, s, true, fn)
}

func (db *DB) oneStatement(ctx context.Context, s Scope, search bool, fn func(ctx context.Context, q sqlx.QueryerContext) error) error {
	return db.inTenant(ctx, s, nil, true, func(ctx context.Context, conn *sqlx.Conn, topts pool.TxOptions) error {
		topts.Search = search
		return Unavailable(pool.One(ctx, conn, topts, func(ctx context.Context) error {
			return fn(pool.Lookup(ctx), conn)
		}))
	})
}

// inTenant enters the tenant's schema for InTenantTx (one false) and
// InTenantLookup (one true): it builds the transaction's settings, takes
// a connection on the tenant's lane, and has run begin the transaction
// with them and run it.
func (db *DB) inTenant(ctx context.Context, s Scope, opts *sql.TxOptions, one bool,
	run func(ctx context.Context, conn *sqlx.Conn, topts pool.TxOptions) error) error {
	if !ValidTenantID(s.TenantID) {
		return app.Errorf(app.EINVALID, "invalid tenant id %q", s.TenantID)
	}
	timeout := cmp.Or(s.Timeout, db.opts.StatementTimeout)
	// The settings go in two forms, built here side by side: set, SQL
	// without parameters sent with BEGIN in one simple-protocol query; and
	// for a transaction of one lookup, setup, the same as statements with
	// parameters, which the pool prepares once per connection
	// (pool.TxOptions.Setup).
	// JIT is off: tenant statements are short, and PostgreSQL's estimate
	// for a filter of a few subqueries over a few thousand rows passes the
	// JIT thresholds, whose compiling then takes seconds (3.0 of 3.3 s for
	// ten of them over 5,000 users).
	set := `SET LOCAL search_path TO ` + pq.QuoteIdentifier(SchemaName(s.TenantID)) + `; SET LOCAL jit = off`
	var ms string
	if timeout > 0 {
		ms = strconv.FormatInt(timeout.Milliseconds(), 10)
		set += `; SET LOCAL statement_timeout = ` + ms
	}
	role := s.Strict && !s.Owner
	if role {
		set += `; SET LOCAL ROLE ` + pq.QuoteIdentifier(db.RoleName(s.TenantID))
	}
	var setup []pool.Setup
	if one {
		// The id is valid (above), so the schema's name needs no quotes.
		args := append(make([]string, 0, 3), SchemaName(s.TenantID))
		exprs := setupPath
		switch {
		case ms != "" && role:
			exprs, args = setupPathTimeoutRole, append(args, ms, db.RoleName(s.TenantID))
		case ms != "":
			exprs, args = setupPathTimeout, append(args, ms)
		case role:
			exprs, args = setupPathRole, append(args, db.RoleName(s.TenantID))
		}
		setup = []pool.Setup{{Exprs: exprs, Args: args}, {Exprs: setupLock}}
	}
	// A shared lock on the tenant, which DropTenantSchema takes exclusively:
	// a tenant is never dropped under a running transaction, and the two
	// never deadlock on the schema's tables. It comes after the statement
	// timeout is set, which bounds the wait.
	class, key := tenantLock(s.TenantID)
	set += `; SELECT pg_advisory_xact_lock_shared(` + class + `, ` + key + `)`
	if setup != nil {
		setup[1].Args = []string{class, key}
	}
	defer measure(ctx, time.Now()) // usage metering's database time
	conn, release, err := db.pool.TenantConn(ctx, s.TenantID)
	if err != nil {
		return Unavailable(err)
	}
	defer release()
	// The statement timeout bounds each statement; the deadline bounds
	// them together (a list's page and count), and the time between them.
	tctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	topts := pool.TxOptions{Settings: set, Setup: setup, Schema: SchemaName(s.TenantID), LookupsOnly: s.LookupsOnly, OneLookup: one}
	if opts != nil {
		topts.Isolation, topts.ReadOnly = opts.Isolation, opts.ReadOnly
	}
	err = run(tctx, conn, topts)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		// The deadline passed, perhaps between two statements: database/sql
		// then rolls back and the next statement reports only that the
		// transaction is done.
		return Unavailable(fmt.Errorf("%w: %w", tctx.Err(), err))
	}
	if err != nil && schemaMissing(err) && !db.tenantExists(ctx, s.TenantID) {
		// The tenant was deleted while this transaction ran.
		return app.Refusef(app.EUNAUTHORIZED, app.ReasonAuth, "invalid or expired bearer token")
	}
	return err
}

// The settings of a transaction of one lookup (pool.Setup), as InTenantTx
// sends them: the search_path ($1), JIT off, then the statement timeout
// ($2) and the strict tenant's role (the last parameter), where they
// apply; then the tenant lock.
const (
	setupPath            = `pg_catalog.set_config('search_path', $1, true), pg_catalog.set_config('jit', 'off', true)`
	setupPathTimeout     = setupPath + `, pg_catalog.set_config('statement_timeout', $2, true)`
	setupPathRole        = setupPath + `, pg_catalog.set_config('role', $2, true)`
	setupPathTimeoutRole = setupPathTimeout + `, pg_catalog.set_config('role', $3, true)`
	setupLock            = `pg_catalog.pg_advisory_xact_lock_shared($1::int4, $2::int4)`
)

// tenantLockKey returns the advisory-lock key of a tenant as SQL
// arguments: a class for Bulkhead's tenant locks and a hash of the id.
func tenantLockKey(tenantID string) string {
	class, key := tenantLock(tenantID)
	return class + ", " + key
}

// tenantLock returns the two keys of a tenant's advisory lock, as text.
func tenantLock(tenantID string) (class, key string) {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	return strconv.Itoa(tenantLockClass), strconv.Itoa(int(int32(h.Sum32())))
}

// tenantLockClass is the first key of tenants' advisory locks.
const tenantLockClass = 0x626b // "bk"

// schemaMissing reports errors that a tenant transaction gets when its schema
// or role is gone: undefined table, function or object, invalid schema.
func schemaMissing(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code {
	case "42P01", "42883", "42704", "3F000":
		return true
	}
	return false
}

func (db *DB) tenantExists(ctx context.Context, tenantID string) bool {
	var exists bool
	err := db.GetContext(ctx, &exists, `SELECT to_regnamespace($1) IS NOT NULL`, SchemaName(tenantID))
	return err != nil || exists // when in doubt, keep the original error
}

// ValidTenantID reports whether id is a valid tenant id: a lowercase letter,
// then up to 39 lowercase letters, digits or underscores.
// It runs before every tenant transaction, so it reads the bytes itself
// rather than through a regular expression.
func ValidTenantID(id string) bool {
	if len(id) == 0 || len(id) > 40 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// SchemaName returns the schema of the tenant with the given id.
func SchemaName(tenantID string) string { return "tenant_" + tenantID }

// RoleName returns the database role of a strict tenant.
func (db *DB) RoleName(tenantID string) string { return db.rolePrefix + tenantID }

// Unavailable marks errors that mean the database could not be reached,
// went away, or did not answer in time, so that clients get a 503 they may
// retry. Other errors, and errors that already carry an *app.Error, pass
// unchanged.
func Unavailable(err error) error {
	var ae *app.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	var pqErr *pq.Error
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &pqErr) && pqErr.Code == "57014" {
		// The transaction's deadline or statement timeout (57014 is
		// query_canceled): the request asked for more than its time.
		return fmt.Errorf("%w (%w)", &app.Error{Code: app.EUNAVAILABLE, Message: "the request took too long and was stopped; retry later, or narrow it (a simpler filter, a smaller page)"}, err)
	}
	switch {
	case errors.As(err, &netErr), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
	case errors.As(err, &pqErr) && (pqErr.Code.Class() == "08" || pqErr.Code.Class() == "57" || pqErr.Code == "53300" ||
		pqErr.Code == "40P01" || pqErr.Code == "40001"):
		// 40P01 and 40001: the transaction lost a deadlock or a serialization
		// conflict (with a tenant being dropped, say); it may simply be retried.
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", &app.Error{Code: app.EUNAVAILABLE, Message: "the database is unavailable; retry later"}, err)
}
