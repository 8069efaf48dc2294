package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Entry is an account as the staff list shows it: with its failed sign-ins
// within FailureWindow and, while the throttle refuses its email, until when.
type Entry struct {
	Staff
	Failures    int        `db:"failures" json:"failed_sign_ins"`
	LockedUntil *time.Time `db:"locked_until" json:"locked_until,omitempty"`
}

// FindStaff lists every account, by email, with its lock state. It returns
// EUNAVAILABLE when the control plane cannot be read.
func FindStaff(ctx context.Context, db *store.DB) ([]*Entry, error) {
	// The lock is the throttle's: the MaxFailures-th newest failure within
	// the window, plus the window (see throttled).
	const q = `
		SELECT s.id, s.email, s.role, s.created_at, s.last_sign_in_at, s.disabled_at,
			(SELECT count(*) FROM control.sign_in_failures f
				WHERE f.email = lower(s.email) AND f.at > now() - $1::interval) AS failures,
			(SELECT at + $1::interval FROM control.sign_in_failures f
				WHERE f.email = lower(s.email) AND f.at > now() - $1::interval
				ORDER BY at DESC OFFSET $2 - 1 LIMIT 1) AS locked_until
		FROM control.staff s ORDER BY lower(s.email)`
	var es []*Entry
	if err := db.SelectContext(ctx, &es, q, windowInterval(), MaxFailures); err != nil {
		return nil, fmt.Errorf("find staff: %w", store.Unavailable(err))
	}
	return es, nil
}

// Locked reports whether the throttle refuses the account's email now.
func (e *Entry) Locked(now time.Time) bool { return e.LockedUntil != nil && e.LockedUntil.After(now) }

// Change is an account after a lifecycle action, and whether the action
// changed it: false when it was so already, and then nothing was audited.
type Change struct {
	*Staff
	Changed bool `json:"changed"`
}

// DisableStaff disables the account with the given email: it can no longer
// sign in, its console sessions end on their next request (the console
// reads the account on every request) and its API keys are revoked. It
// returns ENOTFOUND for an unknown email and ECONFLICT for the last active
// administrator.
func DisableStaff(ctx context.Context, db *store.DB, email, actor string) (*Change, error) {
	return change(ctx, db, email, actor, func(tx *sqlx.Tx, s *Staff) (string, map[string]any, error) {
		if !s.Active() {
			return "", nil, nil
		}
		if err := keepAnAdmin(ctx, tx, s, "disable"); err != nil {
			return "", nil, err
		}
		if err := tx.GetContext(ctx, &s.DisabledAt, `UPDATE control.staff SET disabled_at = now() WHERE id = $1 RETURNING disabled_at`, s.ID); err != nil {
			return "", nil, err
		}
		res, err := tx.ExecContext(ctx, `UPDATE control.staff_api_keys SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL`, s.ID)
		if err != nil {
			return "", nil, err
		}
		n, _ := res.RowsAffected()
		return "staff.disable", map[string]any{"api_keys_revoked": n}, nil
	})
}

// EnableStaff lets a disabled account sign in again; its revoked API keys
// stay revoked. It returns ENOTFOUND for an unknown email.
func EnableStaff(ctx context.Context, db *store.DB, email, actor string) (*Change, error) {
	return change(ctx, db, email, actor, func(tx *sqlx.Tx, s *Staff) (string, map[string]any, error) {
		if s.Active() {
			return "", nil, nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE control.staff SET disabled_at = NULL WHERE id = $1`, s.ID); err != nil {
			return "", nil, err
		}
		s.DisabledAt = nil
		return "staff.enable", nil, nil
	})
}

// SetRole makes the account an administrator or support staff; the console
// applies it on the account's next request. It returns EINVALID for another
// role, ENOTFOUND for an unknown email and ECONFLICT when it would demote the
// last active administrator.
func SetRole(ctx context.Context, db *store.DB, email, role, actor string) (*Change, error) {
	if role != RoleAdmin && role != RoleSupport {
		return nil, app.Errorf(app.EINVALID, "invalid role %q: use admin or support", role)
	}
	return change(ctx, db, email, actor, func(tx *sqlx.Tx, s *Staff) (string, map[string]any, error) {
		if s.Role == role {
			return "", nil, nil
		}
		if err := keepAnAdmin(ctx, tx, s, "demote"); err != nil {
			return "", nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE control.staff SET role = $2 WHERE id = $1`, s.ID, role); err != nil {
			return "", nil, err
		}
		from := s.Role
		s.Role = role
		return "staff.role", map[string]any{"from": from, "to": role}, nil
	})
}

// ResetPassword sets a new password for the account with the given email
// and clears its failed sign-ins, so that it can sign in at once: the
// break-glass path when the password is lost. It returns EINVALID for a
// password CheckPassword refuses and ENOTFOUND for an unknown email.
func ResetPassword(ctx context.Context, db *store.DB, email, password, actor string) (*Staff, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	c, err := change(ctx, db, email, actor, func(tx *sqlx.Tx, s *Staff) (string, map[string]any, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE control.staff SET password_hash = $2 WHERE id = $1`, s.ID, string(hash)); err != nil {
			return "", nil, err
		}
		n, err := clearFailures(ctx, tx, s.Email)
		return "staff.reset_password", map[string]any{"failures_cleared": n}, err
	})
	if err != nil {
		return nil, err
	}
	return c.Staff, nil
}

// Unlock clears the failed sign-ins of the account's email, which lifts the
// throttle's lock on it; Changed is false when there were none. Locks on a
// client address are not lifted. It returns ENOTFOUND for an unknown email.
func Unlock(ctx context.Context, db *store.DB, email, actor string) (*Change, error) {
	return change(ctx, db, email, actor, func(tx *sqlx.Tx, s *Staff) (string, map[string]any, error) {
		n, err := clearFailures(ctx, tx, s.Email)
		if err != nil || n == 0 {
			return "", nil, err
		}
		return "staff.unlock", map[string]any{"failures_cleared": n}, nil
	})
}

// ChangePassword changes the password of the account id, given its current
// password. It returns EINVALID when the current password is wrong or the
// new one is refused by CheckPassword, and ENOTFOUND for an unknown account.
func ChangePassword(ctx context.Context, db *store.DB, id uuid.UUID, current, password string) error {
	var row struct {
		Email string `db:"email"`
		Hash  string `db:"password_hash"`
	}
	err := db.GetContext(ctx, &row, `SELECT email, password_hash FROM control.staff WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return app.Errorf(app.ENOTFOUND, "staff account not found")
	} else if err != nil {
		return fmt.Errorf("change password: %w", store.Unavailable(err))
	}
	if bcrypt.CompareHashAndPassword([]byte(row.Hash), []byte(current)) != nil {
		return app.Errorf(app.EINVALID, "the current password is wrong")
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	if current == password {
		return app.Errorf(app.EINVALID, "the new password is the current one")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	return db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE control.staff SET password_hash = $2 WHERE id = $1`, id, string(hash)); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		return audit.Record(ctx, tx, "staff:"+row.Email, "staff.change_password", "", map[string]any{"email": row.Email})
	})
}

// change runs one lifecycle action on the account with the given email, in
// a transaction holding the staff table's lock, so that staff changes run
// one at a time on every instance: two administrators demoting each other
// at once cannot both see the other still an administrator. act returns the
// audit action and its details, or "" when the account is so already.
func change(ctx context.Context, db *store.DB, email, actor string, act func(*sqlx.Tx, *Staff) (string, map[string]any, error)) (*Change, error) {
	c := &Change{Staff: &Staff{}}
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		// Self-exclusive, and it lets readers (the console's per-request
		// account check) through.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE control.staff IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		const q = `SELECT ` + staffColumns + ` FROM control.staff WHERE lower(email) = lower($1)`
		err := tx.GetContext(ctx, c.Staff, q, strings.TrimSpace(email))
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "no staff account with email %q", email)
		} else if err != nil {
			return err
		}
		action, details, err := act(tx, c.Staff)
		if err != nil || action == "" {
			return err
		}
		c.Changed = true
		if details == nil {
			details = map[string]any{}
		}
		details["email"] = c.Email
		return audit.Record(ctx, tx, actor, action, "", details)
	})
	if err != nil {
		return nil, fmt.Errorf("staff %q: %w", email, err)
	}
	return c, nil
}

// keepAnAdmin returns ECONFLICT when s is the last active administrator,
// whom verb would remove. The caller holds the staff table's lock.
func keepAnAdmin(ctx context.Context, tx *sqlx.Tx, s *Staff, verb string) error {
	if s.Role != RoleAdmin || !s.Active() {
		return nil
	}
	var others int
	const q = `SELECT count(*) FROM control.staff WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1`
	if err := tx.GetContext(ctx, &others, q, s.ID); err != nil {
		return err
	}
	if others == 0 {
		return app.Errorf(app.ECONFLICT, "cannot %s %s: it is the last active administrator; make another account an administrator first", verb, s.Email)
	}
	return nil
}

func clearFailures(ctx context.Context, tx *sqlx.Tx, email string) (int64, error) {
	const q = `DELETE FROM control.sign_in_failures WHERE email = lower($1) AND at > now() - $2::interval`
	res, err := tx.ExecContext(ctx, q, email, windowInterval())
	if err != nil {
		return 0, fmt.Errorf("clear failed sign-ins: %w", err)
	}
	return res.RowsAffected()
}
