package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Prune folds hourly roll-ups of whole UTC days older than retention into
// daily totals and deletes them, in one statement: a roll-up is never
// counted twice nor lost. The Meter runs it after a flush at most hourly.
func Prune(ctx context.Context, db *store.DB, retention time.Duration) error {
	cutoff := time.Now().Add(-retention).UTC().Truncate(24 * time.Hour)
	const q = `
		WITH moved AS (
			DELETE FROM control.usage_hourly WHERE hour < $1
			RETURNING tenant_id, hour, resource, operation, status, refusal,
				requests, bytes_in, bytes_out, duration_us, db_us
		)
		INSERT INTO control.usage_daily AS d (tenant_id, day, resource, operation, status, refusal,
			requests, bytes_in, bytes_out, duration_us, db_us)
		SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, resource, operation, status, refusal,
			sum(requests), sum(bytes_in), sum(bytes_out), sum(duration_us), sum(db_us)
		FROM moved GROUP BY 1, 2, 3, 4, 5, 6
		ON CONFLICT (tenant_id, day, resource, operation, status, refusal) DO UPDATE SET
			requests    = d.requests + EXCLUDED.requests,
			bytes_in    = d.bytes_in + EXCLUDED.bytes_in,
			bytes_out   = d.bytes_out + EXCLUDED.bytes_out,
			duration_us = d.duration_us + EXCLUDED.duration_us,
			db_us       = d.db_us + EXCLUDED.db_us`
	if _, err := db.ExecContext(ctx, q, cutoff); err != nil {
		return fmt.Errorf("fold usage older than %s into daily totals: %w", cutoff.Format(time.DateOnly), store.Unavailable(err))
	}
	return nil
}
