package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Sign-in throttling: after MaxFailures failed sign-ins for one email within
// FailureWindow, that email is refused until the window has passed; a client
// address gets MaxClientFailures, for guessing across many emails.
const (
	MaxFailures       = 5
	MaxClientFailures = 20
	FailureWindow     = 15 * time.Minute
)

// SignIn is what a person typed into the sign-in form, with where it came
// from, for throttling and the audit trail.
type SignIn struct {
	Email     string
	Password  string
	Client    string // remote address
	RequestID string
}

// Actor returns the audit actor of a staff account: "staff:<email>".
func (s *Staff) Actor() string { return "staff:" + s.Email }

// dummyHash is compared against when the email is unknown, so that a wrong
// email takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("bulkhead dummy password"), bcrypt.DefaultCost)

// Authenticate checks an email and password. It returns EUNAUTHORIZED for a
// wrong email or password, with the same message for both (an email longer
// than MaxEmailLength is wrong at once), and EFORBIDDEN while the email or
// the client address is throttled after repeated failures. A successful sign-in clears the email's failures, stamps
// last_sign_in_at and is recorded in the audit trail.
func Authenticate(ctx context.Context, db *store.DB, in SignIn) (*Staff, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if utf8.RuneCountInString(email) > MaxEmailLength {
		// No account has such an email, and failures are recorded by email
		// under an index that would refuse it.
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	if wait, err := throttled(ctx, db, email, in.Client); err != nil {
		return nil, err
	} else if wait > 0 {
		return nil, app.Errorf(app.EFORBIDDEN, "too many failed sign-ins; try again in %s", roundUp(wait))
	}
	var row struct {
		Staff
		PasswordHash string `db:"password_hash"`
	}
	const q = `SELECT id, email, role, created_at, last_sign_in_at, password_hash
		FROM control.staff WHERE lower(email) = $1`
	err := db.GetContext(ctx, &row, q, email)
	hash := []byte(row.PasswordHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		hash = dummyHash
	case err != nil:
		return nil, fmt.Errorf("sign in %q: %w", email, store.Unavailable(err))
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(in.Password)) != nil || row.PasswordHash == "" {
		if err := recordFailure(ctx, db, email, in.Client); err != nil {
			return nil, err
		}
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	s := row.Staff
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM control.sign_in_failures WHERE email = $1`, email); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &s.LastSignInAt, `UPDATE control.staff SET last_sign_in_at = now() WHERE id = $1 RETURNING last_sign_in_at`, s.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.Actor(), "staff.sign_in", "", map[string]any{"client": in.Client, "request_id": in.RequestID})
	})
	if err != nil {
		return nil, fmt.Errorf("sign in %q: %w", email, err)
	}
	return &s, nil
}

// throttled returns how long the email or client must still wait, or 0:
// the oldest of its last N failures within the window, plus the window.
func throttled(ctx context.Context, db *store.DB, email, client string) (time.Duration, error) {
	const q = `
		SELECT now() AS now,
			(SELECT min(at) FROM (SELECT at FROM control.sign_in_failures
				WHERE email = $1 AND at > now() - $3::interval ORDER BY at DESC LIMIT $4) e
			 HAVING count(*) >= $4) AS email_since,
			(SELECT min(at) FROM (SELECT at FROM control.sign_in_failures
				WHERE client = $2 AND at > now() - $3::interval ORDER BY at DESC LIMIT $5) c
			 HAVING count(*) >= $5) AS client_since`
	var row struct {
		Now         time.Time  `db:"now"`
		EmailSince  *time.Time `db:"email_since"`
		ClientSince *time.Time `db:"client_since"`
	}
	window := fmt.Sprintf("%d seconds", int(FailureWindow.Seconds()))
	if err := db.GetContext(ctx, &row, q, email, client, window, MaxFailures, MaxClientFailures); err != nil {
		return 0, fmt.Errorf("check sign-in throttle: %w", store.Unavailable(err))
	}
	var wait time.Duration
	for _, since := range []*time.Time{row.EmailSince, row.ClientSince} {
		if since != nil {
			wait = max(wait, since.Add(FailureWindow).Sub(row.Now))
		}
	}
	return wait, nil
}

func recordFailure(ctx context.Context, db *store.DB, email, client string) error {
	const q = `
		WITH pruned AS (DELETE FROM control.sign_in_failures WHERE at < now() - interval '1 day')
		INSERT INTO control.sign_in_failures (email, client) VALUES ($1, $2)`
	if _, err := db.ExecContext(ctx, q, email, client); err != nil {
		return fmt.Errorf("record failed sign-in: %w", store.Unavailable(err))
	}
	return nil
}

// roundUp says a wait in whole minutes, at least one.
func roundUp(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// FindStaffByID returns the account with the given id, or ENOTFOUND.
func FindStaffByID(ctx context.Context, db *store.DB, id uuid.UUID) (*Staff, error) {
	var s Staff
	err := db.GetContext(ctx, &s, `SELECT id, email, role, created_at, last_sign_in_at FROM control.staff WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "staff account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find staff %s: %w", id, store.Unavailable(err))
	}
	return &s, nil
}

// FindStaffByEmail returns the account with the given email, compared
// case-insensitively, or ENOTFOUND.
func FindStaffByEmail(ctx context.Context, db *store.DB, email string) (*Staff, error) {
	var s Staff
	const q = `SELECT id, email, role, created_at, last_sign_in_at FROM control.staff WHERE lower(email) = lower($1)`
	err := db.GetContext(ctx, &s, q, strings.TrimSpace(email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no staff account with email %q", email)
	}
	if err != nil {
		return nil, fmt.Errorf("find staff %q: %w", email, store.Unavailable(err))
	}
	return &s, nil
}
