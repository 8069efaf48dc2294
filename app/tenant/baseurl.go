package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// RecordBaseURL records the public base URL the server answers on, so that
// the CLI, which runs with an environment of its own, prints the same SCIM
// base URLs as the console. The server calls it at start.
func (s *Service) RecordBaseURL(ctx context.Context, baseURL string) error {
	const q = `
		INSERT INTO control.server (id, base_url) VALUES (true, $1)
		ON CONFLICT (id) DO UPDATE SET base_url = EXCLUDED.base_url, recorded_at = now()`
	if _, err := s.DB.ExecContext(ctx, q, baseURL); err != nil {
		return fmt.Errorf("record the base URL: %w", store.Unavailable(err))
	}
	return nil
}

// FindBaseURL returns the base URL the server last recorded, or "" when no
// server has started on this database yet.
func (s *Service) FindBaseURL(ctx context.Context) (string, error) {
	var u string
	err := s.DB.GetContext(ctx, &u, `SELECT base_url FROM control.server WHERE id`)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find the base URL: %w", store.Unavailable(err))
	}
	return u, nil
}
