// Package pool is the connection machinery under package store: lib/pq's
// connections wrapped so that a transaction begins in one round trip,
// tenant lanes that keep a tenant on a backend that knows it, per-tenant
// shares of the pool, and lookups prepared per tenant schema and paused
// while tenants are migrated. Store decides what a tenant transaction
// sets (search_path, role, timeouts) and owns the only doors to tenant
// data; this package only carries it out, and nothing outside store
// imports it.
//
// Its API is Open, Pool.Conn and Pool.TenantConn for connections, Begin
// with TxOptions for transactions (One for a transaction of one lookup), Lookup, Final and InSchema for what a
// single statement is, and Pool.AnnounceMigration and Pool.MigrationNotice.
//
// Invariants, each checked by a test in this package:
//
//   - Begin sends BEGIN and TxOptions.Settings as one simple-protocol
//     query, and a failed begin leaves the connection outside any
//     transaction, with nothing of the settings left
//     (TestInTenantFailedBegin, BenchmarkInTenantBegin); settings are
//     SET LOCAL and end with the transaction (TestTenantTransactionsWithoutJIT).
//   - The deadline of the context a transaction began with bounds every
//     statement in it, whatever context the statement runs under
//     (TestTransactionDeadline).
//   - A lookup is prepared once per schema and connection and reads its own
//     schema, also after the table changed; behind a transaction pooler
//     nothing is prepared (TestLookupsStayInTheirTenant).
//   - A transaction of one lookup (TxOptions.OneLookup) sends its settings
//     (one prepared statement with parameters) and the lookup in one round
//     trip, up to one Sync, without BEGIN or COMMIT; the lookup runs with
//     the settings and the tenant lock or not at all, and the connection
//     is left outside any transaction, without the settings or the lock
//     (TestOneLookupKeepsTheTransaction, TestOneLookupFailures). Run with
//     One, without database/sql's Tx, its statement is still bounded by
//     the caller's context, cancellation included (TestOneLookupCancelled).
//     A search (TxOptions.Search) runs in PostgreSQL's own plan mode, and
//     a connection keeps at most maxKept searches and final statements
//     prepared (TestOneLookupKeepsTheTransaction, TestSearchesKept).
//   - A statement marked Final is sent with its transaction's COMMIT in
//     one round trip; it runs with the transaction's settings, commits or
//     leaves nothing, and nothing runs after it; the connection is left
//     outside any transaction (TestFinalStatement). Pool.RoundTrips
//     counts the round trips, which tests of writes read
//     (TestCreateRoundTrips in app/directory). In a tenant schema it is
//     prepared once per connection, schema and text, failing or not, and a
//     connection keeps at most 16 such (TestFinalStatementPrepared).
//   - SQL marked Before a statement (a savepoint) goes in the same round
//     trip as the statement, or on its own first where that trip cannot be
//     made; a failure of either fails the statement (TestBeforeStatement;
//     Bulk's tests in app/directory).
//   - A transaction of lookups only (TxOptions.LookupsOnly) uses generic
//     plans, runs nothing but lookups, and the plan mode ends with it
//     (TestOnlyLookupsPlanOnce, TestOnlyLookupsRefuseOtherStatements).
//   - While tenants are migrated, connections drop their lookups and
//     final statements and prepare none (TestLookupsPauseWhileTenantsMigrate).
//   - A connection is closed once it has worked in Config.MaxConnSchemas
//     schemas (TestMaxConnSchemas).
//   - A tenant's transactions run on its lane's backend; a busy lane holds
//     others up for at most Config.LaneWait behind at most three waiters;
//     idle lanes give their connections back to whoever needs one and to
//     the pool on Close and at Config.ConnMaxLifetime; a lane takes only a
//     connection the pool can spare (lanes_test.go).
//   - One tenant holds at most Config.TenantConns connections at once and
//     is refused with ETOOMANY past Config.TenantWait (TestTenantShare).
//
// The tests drive the pool through store.InTenant, the one way Bulkhead
// uses it, so that they check what a tenant transaction really gets.
package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Config tunes a Pool. Open takes it as it is: store.Options holds the
// defaults, and a zero here means none (no lanes, no share, no limit).
type Config struct {
	MaxOpenConns, MaxIdleConns       int
	ConnMaxLifetime, ConnMaxIdleTime time.Duration
	// AcquireTimeout bounds the wait for a free connection (Pool.Conn).
	AcquireTimeout time.Duration
	// Lanes is how many connections each serve a fixed share of the
	// tenants (see lanes); LaneWait how long a transaction waits for its
	// busy lane. Lanes are off behind a transaction pooler.
	Lanes    int
	LaneWait time.Duration
	// MaxConnSchemas closes a connection once it has worked in this many
	// distinct schemas (see TxOptions.Schema and InSchema).
	MaxConnSchemas int
	// TenantConns is how many transactions of one tenant run at once, and
	// TenantWait how long one past that waits for a place (see shares).
	TenantConns int
	TenantWait  time.Duration
	// TransactionPooler says that the DSN goes through a transaction
	// pooler such as PgBouncer in transaction mode (see connector).
	TransactionPooler bool
}

// Pool is the one connection pool of a process, with its lanes and shares.
type Pool struct {
	// DB is the database/sql pool over the wrapped connections.
	DB     *sqlx.DB
	cfg    Config
	plans  *plans  // shared with the connections (see MigrationNotice)
	lanes  *lanes  // nil without lanes
	shares *shares // nil without a share
	trips  atomic.Int64
}

// RoundTrips returns how many times the pool's connections have waited for
// the server's answer since the pool opened: what a statement, a begin or
// a one-trip transaction costs in round trips, which tests read to keep
// it from growing.
func (p *Pool) RoundTrips() int64 { return p.trips.Load() }

// Open returns a pool on dsn. It does not connect: the first use does.
func Open(dsn string, cfg Config) (*Pool, error) {
	pc, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid DATABASE_URL: %w", err)
	}
	// A statement with parameters in one round trip (Parse, Bind, Execute
	// sent together) instead of two. lib/pq then sends []byte arguments in
	// binary format, which suits bytea columns; JSON goes as string.
	pc.BinaryParameters = true
	pqc, err := pq.NewConnectorConfig(pc)
	if err != nil {
		return nil, fmt.Errorf("invalid DATABASE_URL: %w", err)
	}
	plain := strings.HasPrefix(pc.Host, "/") || pc.SSLMode == pq.SSLModeDisable
	p := &Pool{cfg: cfg, plans: &plans{}}
	pqc.Dialer(dialer{trips: &p.trips}) // which lets one-trip lookups reach the socket
	p.DB = sqlx.NewDb(sql.OpenDB(connector{Connector: pqc, pooler: cfg.TransactionPooler, plain: plain, plans: p.plans,
		maxSchemas: max(cfg.MaxConnSchemas, 0), lifetime: cfg.ConnMaxLifetime}), "postgres")
	p.DB.SetMaxOpenConns(cfg.MaxOpenConns)
	p.DB.SetMaxIdleConns(cfg.MaxIdleConns)
	p.DB.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	p.DB.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	if cfg.TenantConns > 0 {
		p.shares = newShares(cfg.TenantConns, cfg.TenantWait)
	}
	// Behind a transaction pooler a connection is not a backend: lanes
	// would keep nothing warm.
	if cfg.Lanes > 0 && !cfg.TransactionPooler {
		p.lanes = newLanes(p, min(cfg.Lanes, cfg.MaxOpenConns))
	}
	return p, nil
}

// Close gives back the lanes' connections and closes the pool.
func (p *Pool) Close() error {
	if p.lanes != nil {
		p.lanes.close()
	}
	return p.DB.Close()
}

// Conn takes a connection from the pool for the caller's sole use; close
// it to give it back. When none frees up within Config.AcquireTimeout it
// returns EUNAVAILABLE at once rather than queuing until ctx ends; other
// errors are the driver's.
func (p *Pool) Conn(ctx context.Context) (*sqlx.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, p.cfg.AcquireTimeout)
	defer cancel()
	conn, err := p.DB.Connx(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, &app.Error{Code: app.EUNAVAILABLE, Message: "the server is busy; retry later"}
		}
		return nil, err
	}
	return conn, nil
}

// TenantConn returns a connection for one transaction of the tenant and
// the function that gives it back: within the tenant's share, on its lane
// when the lane is free soon enough. It returns ETOOMANY when the tenant
// holds its whole share for longer than Config.TenantWait, EUNAVAILABLE
// when no connection frees up in time, or ctx's error.
func (p *Pool) TenantConn(ctx context.Context, tenantID string) (*sqlx.Conn, func(), error) {
	if p.shares == nil {
		return p.laneConn(ctx, tenantID)
	}
	leave, err := p.shares.acquire(ctx, tenantID)
	if err != nil {
		return nil, nil, err
	}
	conn, release, err := p.laneConn(ctx, tenantID)
	if err != nil {
		leave()
		return nil, nil, err
	}
	return conn, func() { release(); leave() }, nil
}
