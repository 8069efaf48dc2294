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
// the client address is throttled after repeated failures. Every attempt
// let through is counted as a failure before its password is compared, so
// that parallel guesses, on any instance, are limited exactly as
// sequential ones. A successful sign-in clears the email's failures, stamps
// last_sign_in_at and is recorded in the audit trail.
func Authenticate(ctx context.Context, db *store.DB, in SignIn) (*Staff, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if utf8.RuneCountInString(email) > MaxEmailLength {
		// No account has such an email, and failures are recorded by email
		// under an index that would refuse it.
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	if wait, err := reserveAttempt(ctx, db, email, in.Client); err != nil {
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
		// The failure was recorded when the attempt was reserved.
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	s := row.Staff
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		// The attempt's own reservation goes with the email's failures.
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

// signInLockClass is the first key of the advisory locks that count sign-in
// attempts one at a time per email and per client ("sgn").
const signInLockClass = 0x73676e

// reserveAttempt records a sign-in attempt as failed before its password is
// compared, unless the email or the client is throttled already; then it
// records nothing and returns how long they must still wait. The check and
// the record run under transaction-scoped advisory locks on the email and
// the client, taken always in that order, so that concurrent attempts from
// every instance sharing the database are counted one after another: at
// most MaxFailures of them ever reach the password hash. An attempt that
// then succeeds deletes its record with the email's other failures.
func reserveAttempt(ctx context.Context, db *store.DB, email, client string) (wait time.Duration, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		const lock = `SELECT pg_advisory_xact_lock($1, hashtext($2)), pg_advisory_xact_lock($1 + 1, hashtext($3))`
		if _, err := tx.ExecContext(ctx, lock, signInLockClass, email, client); err != nil {
			return err
		}
		if wait, err = throttled(ctx, tx, email, client); err != nil || wait > 0 {
			return err
		}
		return recordFailure(ctx, tx, email, client)
	})
	if err != nil {
		return 0, fmt.Errorf("check sign-in throttle: %w", err)
	}
	return wait, nil
}

// throttled returns how long the email or client must still wait, or 0:
// the oldest of its last N failures within the window, plus the window.
func throttled(ctx context.Context, q sqlx.QueryerContext, email, client string) (time.Duration, error) {
	const query = `
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
	if err := sqlx.GetContext(ctx, q, &row, query, email, client, window, MaxFailures, MaxClientFailures); err != nil {
		return 0, err
	}
	var wait time.Duration
	for _, since := range []*time.Time{row.EmailSince, row.ClientSince} {
		if since != nil {
			wait = max(wait, since.Add(FailureWindow).Sub(row.Now))
		}
	}
	return wait, nil
}

func recordFailure(ctx context.Context, ex sqlx.ExecerContext, email, client string) error {
	const q = `
		WITH pruned AS (DELETE FROM control.sign_in_failures WHERE at < now() - interval '1 day')
		INSERT INTO control.sign_in_failures (email, client) VALUES ($1, $2)`
	if _, err := ex.ExecContext(ctx, q, email, client); err != nil {
		return fmt.Errorf("record failed sign-in: %w", err)
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
