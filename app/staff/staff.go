// Package staff manages the accounts of the people who run Bulkhead from its
// console: administrators, who may change anything, and support staff, who
// may only read, and never a tenant's user data.
package staff

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Roles.
const (
	RoleAdmin   = "admin"
	RoleSupport = "support"
)

// MinPasswordLength is the shortest password CreateStaff accepts.
const MinPasswordLength = 12

// MaxEmailLength is the longest email address of an account, that of RFC
// 5321; the address is kept under a btree index, which refuses entries over
// about 2,704 bytes.
const MaxEmailLength = 254

// Staff is one console account.
type Staff struct {
	ID           uuid.UUID  `db:"id" json:"id"`
	Email        string     `db:"email" json:"email"`
	Role         string     `db:"role" json:"role"`
	CreatedAt    time.Time  `db:"created_at" json:"created_at"`
	LastSignInAt *time.Time `db:"last_sign_in_at" json:"last_sign_in_at,omitempty"`
	DisabledAt   *time.Time `db:"disabled_at" json:"disabled_at,omitempty"`
}

// staffColumns are the columns a Staff is read from.
const staffColumns = `id, email, role, created_at, last_sign_in_at, disabled_at`

// Active reports whether the account may sign in and use its API keys.
func (s *Staff) Active() bool { return s.DisabledAt == nil }

// CreateStaff adds an account. It returns EINVALID for a bad email (longer
// than MaxEmailLength among them), role or a password shorter than
// MinPasswordLength, and ECONFLICT when the email is
// taken (case-insensitively).
func CreateStaff(ctx context.Context, db *store.DB, email, role, password, actor string) (*Staff, error) {
	if n := utf8.RuneCountInString(strings.TrimSpace(email)); n > MaxEmailLength {
		return nil, app.Errorf(app.EINVALID, "the email address has %d characters; at most %d are allowed", n, MaxEmailLength)
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(email))
	if err != nil || addr.Name != "" {
		return nil, app.Errorf(app.EINVALID, "invalid email address %q", email)
	}
	if role != RoleAdmin && role != RoleSupport {
		return nil, app.Errorf(app.EINVALID, "invalid role %q: use admin or support", role)
	}
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	var s Staff
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var err error
		s, err = insert(ctx, tx, addr.Address, role, password)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, "staff.create", "", map[string]any{"email": s.Email, "role": role})
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// CheckPassword returns EINVALID for a password shorter than
// MinPasswordLength or longer than the 72 bytes bcrypt reads (the rest
// would be ignored silently).
func CheckPassword(password string) error {
	if len(password) < MinPasswordLength {
		return app.Errorf(app.EINVALID, "the password must have at least %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		return app.Errorf(app.EINVALID, "the password must have at most 72 bytes")
	}
	return nil
}

func insert(ctx context.Context, tx *sqlx.Tx, email, role, password string) (Staff, error) {
	var s Staff
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return s, err
	}
	const q = `INSERT INTO control.staff (id, email, role, password_hash) VALUES ($1, $2, $3, $4)
		RETURNING ` + staffColumns
	err = tx.GetContext(ctx, &s, q, uuid.New(), email, role, string(hash))
	if pqErr, ok := err.(*pq.Error); ok && pqErr.Code == "23505" {
		return s, app.Errorf(app.ECONFLICT, "a staff account with email %q already exists", email)
	}
	if err != nil {
		return s, fmt.Errorf("create staff %q: %w", email, err)
	}
	return s, nil
}

// BootstrapEmail is the login of the first administrator.
const BootstrapEmail = "admin@localhost"

// Bootstrap creates the first administrator with a random password when
// there is no staff account at all, and returns the password; it returns ""
// when accounts exist. Instances starting together create at most one.
func Bootstrap(ctx context.Context, db *store.DB) (password string, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		// Serialize with other instances doing the same.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE control.staff IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM control.staff`); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		if _, err := insert(ctx, tx, BootstrapEmail, RoleAdmin, password); err != nil {
			return err
		}
		return audit.Record(ctx, tx, "system", "staff.bootstrap", "", map[string]any{"email": BootstrapEmail})
	})
	return password, err
}
