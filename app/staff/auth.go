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

// Audit actions of sign-ins. A failure's actor is AnonymousActor, with the
// email typed in its details: it may name no account.
const (
	ActionSignIn       = "staff.sign_in"
	ActionSignInFailed = "staff.sign_in_failed"
	ActionLocked       = "staff.sign_in_locked"
	AnonymousActor     = "anonymous"
)

// Authenticate checks an email and password. It returns EUNAUTHORIZED for a
// wrong email or password, with the same message for both (an email longer
// than MaxEmailLength is wrong at once), EUNAUTHORIZED with its own message
// for the right password of a disabled account, and EFORBIDDEN while the
// email or the client address is throttled after repeated failures. Every
// attempt let through is counted as a failure before its password is
// compared, so that parallel guesses, on any instance, are limited exactly
// as sequential ones. A successful sign-in clears the email's failures (the
// throttle's count), stamps last_sign_in_at and is recorded in the audit
// trail.
//
// Each failure is recorded in the audit trail (the email, the client and
// the request id; never the password), and so is the failure that locks
// the email or the client, once: the trail keeps them after a later
// success. Attempts refused while locked are not recorded one by one, so
// that the throttle also bounds how fast a guesser can grow the trail.
func Authenticate(ctx context.Context, db *store.DB, in SignIn) (*Staff, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if utf8.RuneCountInString(email) > MaxEmailLength {
		// No account has such an email, and failures are recorded by email
		// under an index that would refuse it.
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	att, err := reserveAttempt(ctx, db, email, in.Client)
	if err != nil {
		return nil, err
	} else if att.wait > 0 {
		return nil, app.Errorf(app.EFORBIDDEN, "too many failed sign-ins; try again in %s", roundUp(att.wait))
	}
	var row struct {
		Staff
		PasswordHash string `db:"password_hash"`
	}
	const q = `SELECT ` + staffColumns + `, password_hash FROM control.staff WHERE lower(email) = $1`
	err = db.GetContext(ctx, &row, q, email)
	hash := []byte(row.PasswordHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		hash = dummyHash
	case err != nil:
		return nil, fmt.Errorf("sign in %q: %w", email, store.Unavailable(err))
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(in.Password)) != nil || row.PasswordHash == "" {
		// The failure was counted when the attempt was reserved.
		if err := att.fail(ctx, db, in, email, "wrong email or password"); err != nil {
			return nil, err
		}
		return nil, app.Errorf(app.EUNAUTHORIZED, "wrong email or password")
	}
	if !row.Active() {
		// Only someone who knows the password learns that the account is
		// disabled.
		if err := att.fail(ctx, db, in, email, "account disabled"); err != nil {
			return nil, err
		}
		return nil, app.Errorf(app.EUNAUTHORIZED, "this account is disabled; an administrator can enable it")
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
		return audit.Record(ctx, tx, s.Actor(), ActionSignIn, "", map[string]any{"client": in.Client, "request_id": in.RequestID})
	})
	if err != nil {
		return nil, fmt.Errorf("sign in %q: %w", email, err)
	}
	return &s, nil
}

// signInLockClass is the first key of the advisory locks that count sign-in
// attempts one at a time per email and per client ("sgn").
const signInLockClass = 0x73676e

// attempt is a sign-in attempt let through the throttle, or refused by it
// (wait > 0).
type attempt struct {
	wait time.Duration
	// locks say how long the email and the client are locked if this
	// attempt fails: its failure is the one that reached the limit.
	emailLock, clientLock time.Duration
}

// fail records a failed attempt in the audit trail, with the lockout it
// completes, if any.
func (a attempt) fail(ctx context.Context, db *store.DB, in SignIn, email, reason string) error {
	return db.Transact(ctx, func(tx *sqlx.Tx) error {
		details := map[string]any{"email": email, "client": in.Client, "request_id": in.RequestID, "reason": reason}
		if err := audit.Record(ctx, tx, AnonymousActor, ActionSignInFailed, "", details); err != nil {
			return err
		}
		for _, l := range []struct {
			what string
			d    time.Duration
		}{{"email", a.emailLock}, {"client", a.clientLock}} {
			if l.d <= 0 {
				continue
			}
			details := map[string]any{"email": email, "client": in.Client, "request_id": in.RequestID,
				"locked": l.what, "minutes": int(roundUpMinutes(l.d))}
			if err := audit.Record(ctx, tx, AnonymousActor, ActionLocked, "", details); err != nil {
				return err
			}
		}
		return nil
	})
}

// reserveAttempt records a sign-in attempt as failed before its password is
// compared, unless the email or the client is throttled already; then it
// records nothing and returns how long they must still wait. The check and
// the record run under transaction-scoped advisory locks on the email and
// the client, taken always in that order, so that concurrent attempts from
// every instance sharing the database are counted one after another: at
// most MaxFailures of them ever reach the password hash, and exactly one
// of them completes a lock. An attempt that then succeeds deletes its
// record with the email's other failures.
func reserveAttempt(ctx context.Context, db *store.DB, email, client string) (a attempt, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		const lock = `SELECT pg_advisory_xact_lock($1, hashtext($2)), pg_advisory_xact_lock($1 + 1, hashtext($3))`
		if _, err := tx.ExecContext(ctx, lock, signInLockClass, email, client); err != nil {
			return err
		}
		e, c, err := throttled(ctx, tx, email, client)
		if a.wait = max(e, c); err != nil || a.wait > 0 {
			return err
		}
		if err := recordFailure(ctx, tx, email, client); err != nil {
			return err
		}
		a.emailLock, a.clientLock, err = throttled(ctx, tx, email, client)
		return err
	})
	if err != nil {
		return attempt{}, fmt.Errorf("check sign-in throttle: %w", err)
	}
	return a, nil
}

// throttled returns how long the email and the client must still wait, or
// 0: the oldest of its last N failures within the window, plus the window.
func throttled(ctx context.Context, q sqlx.QueryerContext, email, client string) (emailWait, clientWait time.Duration, err error) {
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
	if err := sqlx.GetContext(ctx, q, &row, query, email, client, windowInterval(), MaxFailures, MaxClientFailures); err != nil {
		return 0, 0, err
	}
	wait := func(since *time.Time) time.Duration {
		if since == nil {
			return 0
		}
		return max(0, since.Add(FailureWindow).Sub(row.Now))
	}
	return wait(row.EmailSince), wait(row.ClientSince), nil
}

// windowInterval is FailureWindow as a PostgreSQL interval.
func windowInterval() string { return fmt.Sprintf("%d seconds", int(FailureWindow.Seconds())) }

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
	if m := roundUpMinutes(d); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 minute"
}

func roundUpMinutes(d time.Duration) int64 { return max(1, int64((d+time.Minute-1)/time.Minute)) }

// FindStaffByID returns the account with the given id, or ENOTFOUND.
func FindStaffByID(ctx context.Context, db *store.DB, id uuid.UUID) (*Staff, error) {
	var s Staff
	err := db.GetContext(ctx, &s, `SELECT `+staffColumns+` FROM control.staff WHERE id = $1`, id)
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
	const q = `SELECT ` + staffColumns + ` FROM control.staff WHERE lower(email) = lower($1)`
	err := db.GetContext(ctx, &s, q, strings.TrimSpace(email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no staff account with email %q", email)
	}
	if err != nil {
		return nil, fmt.Errorf("find staff %q: %w", email, store.Unavailable(err))
	}
	return &s, nil
}
