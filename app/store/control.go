package store

import (
	"context"
	"database/sql"
	"io"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The control plane's handle: DB's own query methods, which satisfy
// sqlx.ExtContext so that control-plane storage functions take either DB or
// a transaction of Transact. Each runs one statement on a pooled connection
// outside any tenant transaction (see DB).

// GetContext runs a control-plane query and scans its one row into dest.
func (db *DB) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	return db.sdb.GetContext(ctx, dest, query, args...)
}

// SelectContext runs a control-plane query and scans its rows into dest.
func (db *DB) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return db.sdb.SelectContext(ctx, dest, query, args...)
}

// ExecContext runs a control-plane statement.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sdb.ExecContext(ctx, query, args...)
}

// QueryContext runs a control-plane query; close its rows.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sdb.QueryContext(ctx, query, args...)
}

// QueryxContext runs a control-plane query; close its rows.
func (db *DB) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	return db.sdb.QueryxContext(ctx, query, args...)
}

// QueryRowxContext runs a control-plane query expected to return one row.
func (db *DB) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	return db.sdb.QueryRowxContext(ctx, query, args...)
}

// DriverName, Rebind and BindNamed complete sqlx.ExtContext.
func (db *DB) DriverName() string { return db.sdb.DriverName() }

// Rebind turns ? placeholders into $n; see sqlx.DB.Rebind.
func (db *DB) Rebind(query string) string { return db.sdb.Rebind(query) }

// BindNamed binds :name parameters; see sqlx.DB.BindNamed.
func (db *DB) BindNamed(query string, arg any) (string, []any, error) {
	return db.sdb.BindNamed(query, arg)
}

// PingContext checks that the database answers.
func (db *DB) PingContext(ctx context.Context) error { return db.sdb.PingContext(ctx) }

// Stats reports the pool's connections, for the console and metrics.
func (db *DB) Stats() sql.DBStats { return db.sdb.Stats() }

var _ sqlx.ExtContext = (*DB)(nil)

// Control runs fn on one pooled connection, outside any transaction, for a
// few control-plane statements in a row on a hot path (authentication):
// when no connection frees up within the acquire timeout it returns
// EUNAVAILABLE at once rather than queuing, as Transact does, without the
// cost of a transaction.
func (db *DB) Control(ctx context.Context, fn func(q sqlx.QueryerContext) error) error {
	conn, err := db.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// SetMaxOpenConns changes how many connections the pool may open, after
// Open; tests use it to make connections scarce.
func (db *DB) SetMaxOpenConns(n int) { db.sdb.SetMaxOpenConns(n) }

// SessionStore returns the scs store of the console's sessions, which
// postgresstore keeps in public.sessions, a control table, cleaning up
// expired ones every cleanup (0: never; call StopCleanup otherwise).
func (db *DB) SessionStore(cleanup time.Duration) *postgresstore.PostgresStore {
	return postgresstore.NewWithCleanupInterval(db.sdb.DB, cleanup)
}

// StatsCollector returns a Prometheus collector of the pool's connection
// statistics, with metric names under namespace.
func (db *DB) StatsCollector(namespace string) prometheus.Collector {
	return collectors.NewDBStatsCollector(db.sdb.DB, namespace)
}

// Hold takes a connection from the pool, with the acquire timeout, and
// keeps it unused until closed: tests use it to make the pool busy.
func (db *DB) Hold(ctx context.Context) (io.Closer, error) {
	conn, err := db.conn(ctx)
	if err != nil {
		return nil, err
	}
	return held{conn}, nil
}

type held struct{ c *sqlx.Conn }

func (h held) Close() error { return h.c.Close() }
