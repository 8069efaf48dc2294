package pool

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// connector wraps lib/pq's connector so that a transaction costs one round
// trip to begin: Begin hands the connection its TxOptions, and BeginTx sends
// their settings with BEGIN as one simple-protocol query ("BEGIN READ WRITE;
// SET LOCAL search_path TO …"). lib/pq's own BeginTx would send BEGIN alone
// and leave the SET for a second round trip.
//
// This stays safe behind PgBouncer in transaction mode: the query opens the
// transaction itself, so the server connection is pinned to us from its
// first byte until COMMIT or ROLLBACK, and SET LOCAL ends with it.
//
// With pooler set (Config.TransactionPooler), statements with parameters
// that run outside a transaction are wrapped in one. lib/pq sends such a
// statement in two exchanges (Parse and Describe, then Bind and Execute),
// and between them a transaction pooler may hand the server connection to
// another client: the Bind can then run another client's statement. Inside
// a transaction the server connection stays ours, so this is safe. Nor are
// lookups prepared then (see Lookup): a named statement lives on one server
// connection.
type connector struct {
	driver.Connector
	pooler     bool
	plain      bool // the socket carries the protocol as it is (no TLS): see oneTrip
	plans      *plans
	maxSchemas int           // schemas a connection works in before it is closed; 0: no limit
	lifetime   time.Duration // Config.ConnMaxLifetime
}

// pqConn is what lib/pq's connection implements and the wrapper forwards.
type pqConn interface {
	driver.Conn
	driver.Tx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	var raw *rawConn
	if c.plain && !c.pooler {
		raw = &rawConn{}
		ctx = context.WithValue(ctx, rawSlotKey{}, raw)
	}
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if raw != nil && raw.Conn == nil {
		raw = nil
	}
	pc, ok := cn.(pqConn)
	if !ok {
		cn.Close()
		return nil, fmt.Errorf("pool: the driver's connection %T lacks what Bulkhead needs", cn)
	}
	// Up to a tenth earlier than the lifetime, so that lanes opened together
	// are not all replaced, and all cold again, at the same moment.
	expires := time.Now().Add(c.lifetime - rand.N(c.lifetime/10+1))
	return &conn{pqConn: pc, pooler: c.pooler, plans: c.plans, gen: c.plans.gen.Load(), maxSchemas: c.maxSchemas, expires: expires, raw: raw}, nil
}

// conn is one pooled connection: lib/pq's, with BeginTx replaced.
type conn struct {
	pqConn
	bad    atomic.Bool // a failed BEGIN could not be rolled back: discard
	pooler bool        // wrap parameterized statements outside transactions
	inTx   bool        // database/sql uses a conn from one goroutine at a time
	// next holds the options of the transaction Begin is beginning: the
	// driver's BeginTx gets nothing else from database/sql than isolation
	// and read-only. BeginTx takes them and clears next.
	next TxOptions
	// txCtx is the context the open transaction began with, whose deadline
	// bounds each of its statements (see bound).
	txCtx context.Context
	// lookupsOnly says that the open transaction may run lookups only
	// (TxOptions.LookupsOnly), and search that its one is a search
	// (TxOptions.Search).
	lookupsOnly, search bool
	// schemas holds the tenant and spare schemas this connection has worked
	// in (see InSchema); once it holds maxSchemas the connection reports
	// itself invalid and database/sql closes it instead of pooling it.
	schemas    map[string]struct{}
	maxSchemas int
	// expires is when lanes, which keep the connection out of the pool's
	// sight, give it up (Config.ConnMaxLifetime).
	expires time.Time
	// schema is the tenant schema of the open transaction ("" outside
	// one), and stmts the lookups prepared on this connection, by schema
	// and SQL (see Lookup), since plans' generation gen.
	schema string
	stmts  map[string]driver.Stmt
	plans  *plans
	gen    int64
	// raw is the socket under lib/pq's connection when one-trip lookups
	// may use it (see oneTrip), with rbuf reading it; named holds the
	// lookups they prepared, by schema and SQL, named bk_<n>.
	raw      *rawConn
	rbuf     *bufio.Reader
	scratch  []byte            // tripIO's, for the messages it does not keep
	colNames map[string]string // the names of the columns the trips have read (see describe)
	named    map[string]string
	nextName int
	// kept are the keys in named of the statements prepared for Final and
	// searches, oldest first (see keptName); parsed counts the
	// ParseCompletes of the last trip.
	kept   []string
	parsed int
	// oneBegin and oneSettings are the BEGIN and settings of a transaction
	// of one lookup (TxOptions.OneLookup) held back until its lookup;
	// oneDone says that the transaction ended with it (or never began).
	// oneSetup are its settings as statements with their arguments
	// (TxOptions.Setup), as oneTrip sends them; setups names those prepared
	// on this connection.
	oneBegin, oneSettings string
	oneSetup              []Setup
	oneDone               bool
	setups                map[setupKey]string
	// wbuf is the buffer the trips build their messages in, kept for the
	// next.
	wbuf []byte
	// final says that the transaction ended with its last statement (see
	// Final), and finalErr how that statement failed.
	final    bool
	finalErr error
}

// note records the schema ctx says a statement works in (see InSchema).
func (c *conn) note(ctx context.Context) {
	s, _ := ctx.Value(schemaKey{}).(string)
	c.noteSchema(s)
}

// noteSchema records that the connection worked in schema s.
func (c *conn) noteSchema(s string) {
	if s == "" || c.maxSchemas == 0 {
		return
	}
	if c.schemas == nil {
		c.schemas = make(map[string]struct{})
	}
	c.schemas[s] = struct{}{}
}

// tx ends a transaction begun by conn.BeginTx.
type tx struct{ c *conn }

// Commit and Rollback of a transaction of one lookup have nothing to send:
// it was never begun, or its lookup's round trip ended it.
func (t tx) Commit() error {
	one := t.c.oneBegin != "" || t.c.oneDone
	final, ferr := t.c.final, t.c.finalErr
	t.c.endTx()
	if final && ferr != nil {
		return fmt.Errorf("pool: rolled back with its last statement: %w", ferr)
	}
	if one || final {
		return nil
	}
	return t.c.pqConn.Commit()
}

func (t tx) Rollback() error {
	one := t.c.oneBegin != "" || t.c.oneDone || t.c.final
	t.c.endTx()
	if one {
		return nil
	}
	return t.c.pqConn.Rollback()
}

func (c *conn) endTx() {
	c.inTx, c.txCtx, c.lookupsOnly, c.search = false, nil, false, false
	c.oneBegin, c.oneSettings, c.oneSetup, c.oneDone = "", "", nil, false
	c.final, c.finalErr = false, nil
}

// bound returns the context a statement of the open transaction runs
// under: its own, unless the transaction's deadline comes first. A
// transaction's deadline (store.Scope.Timeout) must hold whatever context the
// code inside it passes to its statements, so lib/pq then watches the
// transaction's context and cancels the statement on the server when the
// deadline passes. The transaction's context descends from the caller's,
// which statements inside it use, so it ends when theirs would. A
// statement run under a context that cannot end (One's) runs under the
// transaction's.
func (c *conn) bound(ctx context.Context) context.Context {
	if c.txCtx == nil {
		return ctx
	}
	if ctx.Done() == nil { // a context that cannot end, such as One's
		return c.txCtx
	}
	d, ok := c.txCtx.Deadline()
	if !ok {
		return ctx
	}
	if sd, ok := ctx.Deadline(); ok && !sd.After(d) {
		return ctx
	}
	return c.txCtx
}

// ExecContext runs a statement; see connector for what pooler mode adds.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.note(ctx)
	if c.lookupsOnly {
		return nil, ErrNotLookup
	}
	if c.final {
		return nil, ErrAfterFinal
	}
	if c.inTx {
		if err := c.sendPending(ctx); err != nil {
			return nil, err
		}
		return c.pqConn.ExecContext(c.bound(ctx), query, args)
	}
	if !c.pooler || len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	if _, err := c.pqConn.ExecContext(ctx, "BEGIN", nil); err != nil {
		return nil, err
	}
	res, err := c.pqConn.ExecContext(ctx, query, args)
	if err != nil {
		_ = c.pqConn.Rollback()
		return nil, err
	}
	if err := c.pqConn.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// QueryContext runs a query; see connector for what pooler mode adds. The
// wrapping transaction commits when the rows are closed. A lookup (see
// Lookup) in a tenant transaction runs as a statement prepared on this
// connection for that tenant. A transaction of lookups only runs nothing
// else.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.note(ctx)
	lookup := ctx.Value(lookupKey{}) != nil
	if c.lookupsOnly && !lookup {
		return nil, ErrNotLookup
	}
	if c.oneDone {
		return nil, ErrOneLookup
	}
	if c.final {
		return nil, ErrAfterFinal
	}
	if c.inTx && c.raw != nil && c.oneBegin == "" && !c.lookupsOnly {
		if p := pending(ctx); p != nil && !lookup {
			if tripArgs(args) {
				return c.runBefore(ctx, p, query, args)
			}
		}
		if ctx.Value(finalKey{}) != nil && pending(ctx) == nil {
			if tripArgs(args) {
				return c.runFinal(ctx, query, args)
			}
		}
	}
	if c.inTx && c.oneBegin == "" {
		if err := c.sendPending(ctx); err != nil {
			return nil, err
		}
	}
	if c.oneBegin != "" {
		if !c.plans.paused() {
			if tripArgs(args) {
				return c.runOneTrip(ctx, query, args)
			}
		}
		// Begin as any transaction, and run the lookup as below.
		q := c.oneBegin + "; " + c.oneSettings
		c.oneBegin, c.oneSettings, c.oneSetup = "", "", nil
		if err := c.begin(c.bound(ctx), q); err != nil {
			c.oneDone = true // nothing is open: Commit and Rollback send nothing
			return nil, err
		}
	}
	if lookup && c.inTx && c.schema != "" && !c.pooler && !c.search && !c.plans.paused() {
		ctx = c.bound(ctx)
		st, err := c.prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.(driver.StmtQueryContext).QueryContext(ctx, args)
	}
	if c.inTx {
		return c.pqConn.QueryContext(c.bound(ctx), query, args)
	}
	if !c.pooler || len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	if _, err := c.pqConn.ExecContext(ctx, "BEGIN", nil); err != nil {
		return nil, err
	}
	rows, err := c.pqConn.QueryContext(ctx, query, args)
	if err != nil {
		_ = c.pqConn.Rollback()
		return nil, err
	}
	return &txRows{Rows: rows, c: c}, nil
}

// prepared returns the statement prepared on c for query in the schema of
// the open transaction, preparing it the first time.
func (c *conn) prepared(ctx context.Context, query string) (driver.Stmt, error) {
	key := c.schema + "\x00" + query
	if st, ok := c.stmts[key]; ok {
		return st, nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = make(map[string]driver.Stmt)
	}
	c.stmts[key] = st
	return st, nil
}

// dropLookups deallocates the lookups and final statements prepared on c
// when the pool asked its connections to (see Pool.MigrationNotice). They
// are all that Bulkhead prepares, so DEALLOCATE ALL drops nothing else.
func (c *conn) dropLookups(ctx context.Context) error {
	gen := c.plans.gen.Load()
	if gen == c.gen {
		return nil
	}
	if len(c.stmts) > 0 || len(c.named) > 0 || len(c.setups) > 0 {
		if _, err := c.pqConn.ExecContext(ctx, "DEALLOCATE ALL", nil); err != nil {
			return err
		}
		c.stmts, c.named, c.setups, c.kept = nil, nil, nil, nil
	}
	c.gen = gen
	return nil
}

// txRows commits the transaction wrapping a query when closed.
type txRows struct {
	driver.Rows
	c      *conn
	closed bool
}

func (r *txRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	if cerr := r.c.pqConn.Commit(); err == nil {
		err = cerr
	}
	return err
}

// schemaKey carries the schema a statement works in (see InSchema),
// lookupKey marks lookups (see Lookup).
type (
	schemaKey struct{}
	lookupKey struct{}
)

// Lookup returns ctx marking the queries run with it in a transaction in a
// schema (TxOptions.Schema) as lookups: statements a tenant runs again and
// again with other values, such as reading a resource by id. Each runs as
// a statement prepared on the connection for the schema, so that
// PostgreSQL plans it once per tenant and connection instead of every
// time: at a warm backend planning is most of what such a query costs, and
// it opens every index of the tables, which a prepared plan does not
// (docs/scaling.md). Tenant lanes keep a tenant on one connection, so the
// statement is there next time. A statement is prepared per schema because
// PostgreSQL plans it for the search_path it was prepared under (and plans
// it again, correctly but at a cost, under another). Each costs the
// backend 25–50 KB (a user read with its groups: about 50), freed with the
// connection, which Config.MaxConnSchemas bounds. Behind a transaction
// pooler a connection is not a backend, and lookups run as other queries;
// so they do while tenants are migrated (see Pool.MigrationNotice).
//
// Being a lookup is a property of one statement, and database/sql hands a
// driver nothing for a statement but its context, SQL and arguments: a
// marker argument would shift the $n of the SQL from the Go arguments, and
// the context is the one channel left. Marking a statement wrongly costs
// at most a prepared statement: the statement still runs in its schema.
func Lookup(ctx context.Context) context.Context {
	return context.WithValue(ctx, lookupKey{}, true)
}

// InSchema returns ctx saying that the statements run with it work in the
// named tenant or spare schema, for statements that enter a schema
// themselves, such as migrations run in a control-plane transaction
// (TxOptions.Schema says it for a whole transaction). Each connection
// counts the schemas it has worked in, because its backend keeps their
// catalog entries until it closes: the cost of a tenant is paid once per
// connection, and the count bounds the backend's memory
// (Config.MaxConnSchemas). Like Lookup it is a context value because
// database/sql passes nothing else from a statement to the driver.
func InSchema(ctx context.Context, schema string) context.Context {
	return context.WithValue(ctx, schemaKey{}, schema)
}

// ErrNotLookup is what a statement other than a lookup gets in a
// transaction of lookups only (TxOptions.LookupsOnly).
var ErrNotLookup = errors.New("pool: a statement that is not a lookup in a transaction of lookups only")

// TxOptions say how Begin begins a transaction.
type TxOptions struct {
	Isolation sql.IsolationLevel
	ReadOnly  bool
	// Settings are statements sent together with BEGIN, in the same
	// simple-protocol query, such as SET LOCAL search_path. They are sent
	// as SQL text, without parameters: build them from validated
	// identifiers and numbers only.
	Settings string
	// Setup is Settings again as statements with parameters, for a
	// transaction of one lookup, which sends them in order, each prepared
	// once per connection, in place of Settings (see oneTrip). They must
	// set what Settings sets, for the transaction only (set_config's
	// is_local).
	Setup []Setup
	// Schema is the tenant or spare schema the transaction works in, ""
	// for none: the connection counts it (Config.MaxConnSchemas), and
	// prepares lookups per schema; outside a schema nothing is prepared.
	Schema string
	// LookupsOnly begins a transaction that runs lookups (see Lookup) and
	// nothing else, such as reading one resource by id; any other
	// statement fails with ErrNotLookup. Its lookups use their generic plan
	// from the first run: PostgreSQL would otherwise plan each prepared
	// statement afresh for its first five runs before it settles on the
	// generic plan, and with many tenants most of a tenant's statements on
	// a connection never get that far. A lookup finds rows by a key, so its
	// plan hardly depends on the values, and the generic plan is the one
	// PostgreSQL would settle on. The setting (plan_cache_mode) holds for
	// every statement of the transaction and ends with it, which is why
	// nothing else may run there: a query whose best plan depends on its
	// values, such as a filter with LIKE, would be planned badly.
	LookupsOnly bool
	// OneLookup begins a transaction of lookups only that runs exactly one,
	// such as reading one resource by id: the settings (Setup) and the
	// lookup then travel together in one round trip, in one implicit
	// transaction (see oneTrip), and Commit and Rollback have nothing left
	// to send. A second statement fails with ErrOneLookup. Where the round
	// trip cannot be made (no Setup, an isolation level or READ ONLY asked
	// for, see oneTrip for the rest), the transaction runs as one of
	// LookupsOnly.
	OneLookup bool
	// Search, with OneLookup, is for a lookup whose text varies from
	// request to request, such as a search by a filter: in the one round
	// trip it is prepared like a final statement, a connection keeping at
	// most maxKept of them (see Final), so that other texts do not pile
	// up on the backend; and the transaction keeps PostgreSQL's own plan
	// mode, so that a filter with LIKE gets the plan its pattern needs
	// (custom plans first, the generic one once it costs no more).
	Search bool
}

// Setup is one statement of TxOptions.Setup: SELECT Exprs, each value a
// text parameter ($1 … in Args), such as
// pg_catalog.set_config('search_path', $1, true). Name functions with
// their schema: the statement is prepared under the connection's own
// search_path. Each goes as a statement of its own, because PostgreSQL
// starts a statement timeout that one sets only at the next.
type Setup struct {
	Exprs string
	Args  []string
}

// Begin begins a transaction on sc, a connection of a Pool, with opts,
// in one round trip. The deadline of ctx bounds every statement of the
// transaction, whatever context the statement itself runs under (see
// bound). It returns the driver's error when BEGIN or a setting fails; the
// connection is then outside any transaction.
func Begin(ctx context.Context, sc *sqlx.Conn, opts TxOptions) (*sqlx.Tx, error) {
	set := func(o TxOptions) error {
		return sc.Raw(func(dc any) error {
			c, ok := dc.(*conn)
			if !ok {
				return fmt.Errorf("pool: %T is not a connection of a Pool", dc)
			}
			c.next = o
			return nil
		})
	}
	if err := set(opts); err != nil {
		return nil, err
	}
	tx, err := sc.BeginTxx(ctx, &sql.TxOptions{Isolation: opts.Isolation, ReadOnly: opts.ReadOnly})
	if err != nil {
		// Should database/sql have failed before the driver took them,
		// the options must not apply to the connection's next transaction.
		_ = set(TxOptions{})
		return nil, err
	}
	return tx, nil
}

// One runs fn as a transaction of one lookup (opts.OneLookup) on sc,
// a connection of a Pool, without database/sql's Tx: fn runs its lookup
// on sc itself, under the context One hands it. A Tx costs what the
// lookup's round trip leaves little else to spend on: a goroutine that
// watches its context, and another for the rows of each query inside it.
// The context fn gets carries ctx's values but cannot end, so that
// database/sql starts no goroutine for its rows; the statement runs under
// ctx all the same, deadline and cancellation included (see bound). The
// transaction ends when fn returns: it commits when fn returns nil
// (nothing to send once the round trip was made) and rolls back when fn
// returns an error or panics. Errors are the driver's.
func One(ctx context.Context, sc *sqlx.Conn, opts TxOptions, fn func(ctx context.Context) error) (err error) {
	opts.OneLookup = true
	if err := sc.Raw(func(dc any) error {
		c, ok := dc.(*conn)
		if !ok {
			return fmt.Errorf("pool: %T is not a connection of a Pool", dc)
		}
		c.next = opts
		_, err := c.BeginTx(ctx, driver.TxOptions{})
		return err
	}); err != nil {
		return err
	}
	end := func(commit bool) error {
		return sc.Raw(func(dc any) error {
			if t := (tx{dc.(*conn)}); commit {
				return t.Commit()
			} else {
				return t.Rollback()
			}
		})
	}
	defer func() {
		if p := recover(); p != nil {
			_ = end(false)
			panic(p)
		}
		if err != nil {
			_ = end(false)
			return
		}
		err = end(true)
	}()
	return fn(context.WithoutCancel(ctx))
}

// BeginTx begins a transaction in one round trip together with the
// settings Begin handed over (c.next). It never uses lib/pq's BeginTx, which
// keeps a cancel watcher per transaction that a begin made here would leave
// stale; every statement inside the transaction watches its own context.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	next := c.next
	c.next = TxOptions{}
	var mode string
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadCommitted:
		mode = " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead:
		mode = " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		mode = " ISOLATION LEVEL SERIALIZABLE"
	default:
		return nil, fmt.Errorf("pool: isolation level %v not supported", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		mode += " READ ONLY"
	} else {
		mode += " READ WRITE"
	}
	if err := c.dropLookups(ctx); err != nil {
		return nil, err
	}
	var settings string
	if next.Settings != "" {
		settings = "; " + next.Settings
	}
	search := next.OneLookup && next.Search
	if (next.LookupsOnly || next.OneLookup) && !search {
		settings += "; SET LOCAL plan_cache_mode = force_generic_plan"
	}
	if next.OneLookup && len(next.Setup) > 0 && c.raw != nil && !c.pooler &&
		opts.Isolation == driver.IsolationLevel(sql.LevelDefault) && !opts.ReadOnly {
		// Sent with the lookup (see oneTrip), or with BEGIN where the
		// lookup cannot go in one trip after all.
		c.oneBegin, c.oneSettings = "BEGIN"+mode, strings.TrimPrefix(settings, "; ")
		c.oneSetup = next.Setup
	} else if err := c.begin(ctx, "BEGIN"+mode+settings); err != nil {
		return nil, err
	}
	// lib/pq's connection is its own driver.Tx: its Commit and Rollback
	// follow the transaction status the server reported for our query.
	c.inTx, c.txCtx, c.lookupsOnly, c.search = true, ctx, next.LookupsOnly || next.OneLookup, search
	c.schema = next.Schema
	c.noteSchema(next.Schema)
	return tx{c}, nil
}

// begin sends q, BEGIN with settings, as one simple-protocol query.
func (c *conn) begin(ctx context.Context, q string) error {
	if _, err := c.pqConn.ExecContext(ctx, q, nil); err != nil {
		// BEGIN may have succeeded and a later statement failed, leaving an
		// aborted transaction: end it before the connection goes back to
		// the pool. ROLLBACK outside a transaction is only a warning.
		if _, rerr := c.pqConn.ExecContext(context.Background(), "ROLLBACK", nil); rerr != nil {
			c.bad.Store(true)
		}
		return err
	}
	return nil
}

// Begin is BeginTx with default options.
func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

// ResetSession and IsValid also discard a connection whose failed BEGIN
// could not be rolled back.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.bad.Load() {
		return driver.ErrBadConn
	}
	return c.pqConn.ResetSession(ctx)
}

func (c *conn) IsValid() bool {
	return !c.bad.Load() && (c.maxSchemas == 0 || len(c.schemas) < c.maxSchemas) && c.pqConn.IsValid()
}

// conn must keep every optional interface lib/pq's connection has.
var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)
