package usage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// refusedRows counts the rows of a batch that the database refused and
// that were dropped from it.
type refusedRows struct {
	requests, failures, lastWrites int64
	first                          error // the first refusal, for the log
}

// writeBatch writes b in one transaction: one upsert of all roll-ups, one of
// the last writes, one insert of the failures and one trim of the inspector.
// When the database refuses a value in it, it writes b again one row at a
// time, each under a savepoint, and drops from b the rows refused, so that
// one bad row never holds back the rest. Any other error leaves b whole.
func writeBatch(ctx context.Context, db *store.DB, b *batch) (refusedRows, error) {
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := upsertRollups(ctx, tx, b.counts); err != nil {
			return err
		}
		if err := upsertLastWrites(ctx, tx, b.lastWrite); err != nil {
			return err
		}
		var all []Failure
		for _, fs := range b.failures {
			all = append(all, fs...)
		}
		if err := insertFailures(ctx, tx, all); err != nil {
			return err
		}
		return trimFailures(ctx, tx, slices.Collect(maps.Keys(b.failures)))
	})
	var r refusedRows
	if refused(err) {
		err = db.Transact(ctx, func(tx *sqlx.Tx) error { return writeEach(ctx, tx, b, &r) })
	}
	return r, err
}

// refused reports whether the database refused a value of a row, which
// would fail every retry: a data exception (invalid text, a number out of
// range), an integrity constraint violation, or a program limit (an index
// row too large). An unreachable or overloaded database, a missing table or
// a missing privilege is not a refusal: the rows wait for the next flush.
func refused(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code.Class() {
	case "22", "23", "54":
		return true
	}
	return false
}

// writeEach writes b one row at a time, each under a savepoint, dropping
// from b the rows the database refuses and counting them in r.
func writeEach(ctx context.Context, tx *sqlx.Tx, b *batch, r *refusedRows) error {
	each := func(write func() error, drop func()) error {
		err := savepoint(ctx, tx, write)
		if refused(err) {
			drop()
			if r.first == nil {
				r.first = err
			}
			return nil
		}
		return err
	}
	for k, c := range b.counts {
		err := each(func() error { return upsertRollups(ctx, tx, map[key]*counts{k: c}) }, func() {
			delete(b.counts, k)
			b.events -= c.requests
			r.requests += c.requests
		})
		if err != nil {
			return err
		}
	}
	for t, lw := range b.lastWrite {
		err := each(func() error { return upsertLastWrites(ctx, tx, map[string]lastWrite{t: lw}) }, func() {
			delete(b.lastWrite, t)
			r.lastWrites++
		})
		if err != nil {
			return err
		}
	}
	for t, fs := range b.failures {
		kept := fs[:0:0]
		for _, f := range fs {
			ok := true
			err := each(func() error { return insertFailures(ctx, tx, []Failure{f}) }, func() {
				ok = false
				b.nFailures--
				r.failures++
			})
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, f)
			}
		}
		b.failures[t] = kept
	}
	return trimFailures(ctx, tx, slices.Collect(maps.Keys(b.failures)))
}

// savepoint runs fn under a savepoint of tx and, when fn fails, rolls back
// to it, so that the transaction goes on without what fn did.
func savepoint(ctx context.Context, tx *sqlx.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT usage_row"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT usage_row"); rerr != nil {
			return fmt.Errorf("roll back to savepoint: %w", rerr)
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT usage_row"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

func upsertRollups(ctx context.Context, tx *sqlx.Tx, cs map[key]*counts) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	var (
		tenants, hours, resources, ops, refusals, latencies   = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		statuses, requests, bytesIn, bytesOut, durations, dbs = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	)
	for k, c := range cs {
		tenants = append(tenants, k.tenant)
		hours = append(hours, time.Unix(k.hour, 0).UTC().Format(time.RFC3339))
		resources = append(resources, k.resource)
		ops = append(ops, k.operation)
		statuses = append(statuses, int64(k.status))
		refusals = append(refusals, k.refusal)
		requests = append(requests, c.requests)
		bytesIn = append(bytesIn, c.bytesIn)
		bytesOut = append(bytesOut, c.bytesOut)
		durations = append(durations, c.durationUS)
		dbs = append(dbs, c.dbUS)
		latencies = append(latencies, arrayLiteral(c.latency[:]))
	}
	// Latency histograms travel as array literals: unnest would flatten a
	// two-dimensional array. On conflict they are added element by element.
	const q = `
		INSERT INTO control.usage_hourly AS u (tenant_id, hour, resource, operation, status, refusal,
			requests, bytes_in, bytes_out, duration_us, db_us, latency)
		SELECT t, h, r, o, s, f, n, bi, bo, d, db, l::bigint[]
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::smallint[], $6::text[],
			$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[])
			AS x(t, h, r, o, s, f, n, bi, bo, d, db, l)
		ON CONFLICT (tenant_id, hour, resource, operation, status, refusal) DO UPDATE SET
			requests    = u.requests + EXCLUDED.requests,
			bytes_in    = u.bytes_in + EXCLUDED.bytes_in,
			bytes_out   = u.bytes_out + EXCLUDED.bytes_out,
			duration_us = u.duration_us + EXCLUDED.duration_us,
			db_us       = u.db_us + EXCLUDED.db_us,
			latency     = ARRAY(
				SELECT COALESCE(a, 0) + COALESCE(b, 0)
				FROM unnest(u.latency, EXCLUDED.latency) WITH ORDINALITY AS z(a, b, i)
				ORDER BY i)`
	_, err := tx.ExecContext(ctx, q, pq.Array(tenants), pq.Array(hours), pq.Array(resources), pq.Array(ops),
		pq.Array(statuses), pq.Array(refusals), pq.Array(requests), pq.Array(bytesIn), pq.Array(bytesOut),
		pq.Array(durations), pq.Array(dbs), pq.Array(latencies))
	if err != nil {
		return fmt.Errorf("write usage roll-ups: %w", err)
	}
	return nil
}

func arrayLiteral(ns []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range ns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	b.WriteByte('}')
	return b.String()
}

func upsertLastWrites(ctx context.Context, tx *sqlx.Tx, lws map[string]lastWrite) error {
	if len(lws) == 0 {
		return nil
	}
	var tenants, ats, idps []string
	for t, lw := range lws {
		tenants = append(tenants, t)
		ats = append(ats, lw.at.UTC().Format(time.RFC3339Nano))
		idps = append(idps, lw.idp)
	}
	const q = `
		INSERT INTO control.usage_last_write AS w (tenant_id, at, idp)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[])
		ON CONFLICT (tenant_id) DO UPDATE SET at = EXCLUDED.at, idp = EXCLUDED.idp
		WHERE EXCLUDED.at > w.at`
	if _, err := tx.ExecContext(ctx, q, pq.Array(tenants), pq.Array(ats), pq.Array(idps)); err != nil {
		return fmt.Errorf("write last writes: %w", err)
	}
	return nil
}

// insertFailures appends the failures, oldest first so that ids follow
// time.
func insertFailures(ctx context.Context, tx *sqlx.Tx, all []Failure) error {
	if len(all) == 0 {
		return nil
	}
	cols := make([][]string, 10)
	for _, f := range all {
		for i, v := range []string{f.TenantID, f.At.UTC().Format(time.RFC3339Nano), f.RequestID, f.Method, f.Path,
			strconv.Itoa(f.Status), f.ScimType, f.Detail, f.IdP, f.Body} {
			cols[i] = append(cols[i], v)
		}
	}
	const ins = `
		INSERT INTO control.failed_requests (tenant_id, at, request_id, method, path, status, scim_type, detail, idp, body)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
			$6::smallint[], $7::text[], $8::text[], $9::text[], $10::text[]) AS x
		ORDER BY 2`
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = pq.Array(c)
	}
	if _, err := tx.ExecContext(ctx, ins, args...); err != nil {
		return fmt.Errorf("write failed requests: %w", err)
	}
	return nil
}

// trimFailures keeps the newest MaxFailures failures of each tenant named.
func trimFailures(ctx context.Context, tx *sqlx.Tx, tenantIDs []string) error {
	if len(tenantIDs) == 0 {
		return nil
	}
	// floor is the id of each tenant's newest failure beyond the limit;
	// it and everything older go.
	const trim = `
		DELETE FROM control.failed_requests f
		USING (
			SELECT t.id AS tenant_id, (
				SELECT r.id FROM control.failed_requests r WHERE r.tenant_id = t.id
				ORDER BY r.id DESC OFFSET $2 LIMIT 1) AS floor
			FROM unnest($1::text[]) AS t(id)
		) k
		WHERE f.tenant_id = k.tenant_id AND f.id <= k.floor`
	if _, err := tx.ExecContext(ctx, trim, pq.Array(tenantIDs), MaxFailures); err != nil {
		return fmt.Errorf("trim failed requests: %w", err)
	}
	return nil
}
