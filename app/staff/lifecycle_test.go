package staff_test

import (
	"context"
	"sync"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const password = "correct horse battery staple"

// newDB is a database of its own, so that "the last administrator" counts
// only the test's accounts.
func newDB(t *testing.T, accounts map[string]string) *store.DB {
	t.Helper()
	db := storetest.NewDB(t)
	for email, role := range accounts {
		if _, err := staff.CreateStaff(context.Background(), db, email, role, password, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// countEvents counts the audit events with the action about email.
func countEvents(t *testing.T, db *store.DB, action, email string) int {
	t.Helper()
	events, err := audit.FindEvents(context.Background(), db, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == action && e.Details["email"] == email {
			n++
		}
	}
	return n
}

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, map[string]string{"a@example.test": staff.RoleAdmin, "s@example.test": staff.RoleSupport})

	for _, tt := range []struct {
		name string
		do   func() error
	}{
		{"ErrDisable", func() error { _, err := staff.DisableStaff(ctx, db, "a@example.test", "test"); return err }},
		{"ErrDemote", func() error {
			_, err := staff.SetRole(ctx, db, "A@example.test", staff.RoleSupport, "test")
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("err = %v, want ECONFLICT", err)
			}
			if s, _ := staff.FindStaffByEmail(ctx, db, "a@example.test"); s.Role != staff.RoleAdmin || !s.Active() {
				t.Errorf("the last admin is now %s, active %v", s.Role, s.Active())
			}
		})
	}
	t.Run("DisabledAdminDoesNotCount", func(t *testing.T) {
		if _, err := staff.SetRole(ctx, db, "s@example.test", staff.RoleAdmin, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := staff.DisableStaff(ctx, db, "s@example.test", "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := staff.DisableStaff(ctx, db, "a@example.test", "test"); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("disabling the last active admin beside a disabled one: %v, want ECONFLICT", err)
		}
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		if _, err := staff.DisableStaff(ctx, db, "nobody@example.test", "test"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Errorf("err = %v, want ENOTFOUND", err)
		}
		if _, err := staff.SetRole(ctx, db, "a@example.test", "owner", "test"); app.ErrorCode(err) != app.EINVALID {
			t.Errorf("err = %v, want EINVALID", err)
		}
	})
}

// TestConcurrentDemotion: administrators demoting or disabling each other
// at once, from many connections, always leave one active administrator.
func TestConcurrentDemotion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		emails := []string{"a@example.test", "b@example.test", "c@example.test"}
		db := newDB(t, map[string]string{emails[0]: staff.RoleAdmin, emails[1]: staff.RoleAdmin, emails[2]: staff.RoleAdmin})
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i, e := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if i%2 == 0 {
					_, err = staff.SetRole(ctx, db, e, staff.RoleSupport, "staff:"+emails[(i+1)%3])
				} else {
					_, err = staff.DisableStaff(ctx, db, e, "staff:"+emails[(i+1)%3])
				}
				if app.ErrorCode(err) == app.ECONFLICT {
					mu.Lock()
					refused++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		es, err := staff.FindStaff(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, e := range es {
			if e.Role == staff.RoleAdmin && e.Active() {
				active++
			}
		}
		if active != 1 || refused != 1 {
			t.Fatalf("round %d: %d active admins left and %d changes refused, want 1 and 1", round, active, refused)
		}
	}
}

func TestDisableEndsAPIKeysAndSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, map[string]string{"a@example.test": staff.RoleAdmin, "s@example.test": staff.RoleSupport})
	s, _ := staff.FindStaffByEmail(ctx, db, "s@example.test")
	k, err := staff.CreateAPIKey(ctx, db, s.ID, "script", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staff.AuthenticateAPIKey(ctx, db, k.Secret); err != nil {
		t.Fatalf("key before disable: %v", err)
	}

	ch, err := staff.DisableStaff(ctx, db, "s@example.test", "staff:a@example.test")
	if err != nil || !ch.Changed || ch.Active() {
		t.Fatalf("disable: %+v, %v", ch, err)
	}
	if _, err := staff.AuthenticateAPIKey(ctx, db, k.Secret); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Errorf("key after disable: %v, want EUNAUTHORIZED", err)
	}
	_, err = staff.Authenticate(ctx, db, staff.SignIn{Email: "s@example.test", Password: password, Client: "192.0.2.1"})
	if app.ErrorCode(err) != app.EUNAUTHORIZED || app.ErrorMessage(err) != "this account is disabled; an administrator can enable it" {
		t.Errorf("sign-in after disable: %v", err)
	}
	if _, err := staff.CreateAPIKey(ctx, db, s.ID, "another", "test"); app.ErrorCode(err) != app.ECONFLICT {
		t.Errorf("new key for a disabled account: %v, want ECONFLICT", err)
	}

	t.Run("Idempotent", func(t *testing.T) {
		ch, err := staff.DisableStaff(ctx, db, "s@example.test", "test")
		if err != nil || ch.Changed {
			t.Fatalf("second disable: %+v, %v; want unchanged", ch, err)
		}
		if n := countEvents(t, db, "staff.disable", "s@example.test"); n != 1 {
			t.Errorf("%d staff.disable events, want 1", n)
		}
	})

	ch, err = staff.EnableStaff(ctx, db, "s@example.test", "test")
	if err != nil || !ch.Changed || !ch.Active() {
		t.Fatalf("enable: %+v, %v", ch, err)
	}
	if _, err := staff.Authenticate(ctx, db, staff.SignIn{Email: "s@example.test", Password: password, Client: "192.0.2.1"}); err != nil {
		t.Errorf("sign-in after enable: %v", err)
	}
	if _, err := staff.AuthenticateAPIKey(ctx, db, k.Secret); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Errorf("a key revoked by disable works again after enable: %v", err)
	}
	if ch, _ := staff.SetRole(ctx, db, "s@example.test", staff.RoleSupport, "test"); ch.Changed {
		t.Error("setting the role it has reported a change")
	}
	if n := countEvents(t, db, "staff.role", "s@example.test"); n != 0 {
		t.Errorf("%d staff.role events for no change, want 0", n)
	}
}

// TestSignInFailuresAudited: failures and the lockout stay in the audit
// trail after a later success; the throttle clears, the trail does not.
func TestSignInFailuresAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, map[string]string{"a@example.test": staff.RoleAdmin})
	in := staff.SignIn{Email: "a@example.test", Password: "not the password", Client: "192.0.2.7", RequestID: "req-1"}
	for i := 0; i < staff.MaxFailures; i++ {
		if _, err := staff.Authenticate(ctx, db, in); app.ErrorCode(err) != app.EUNAUTHORIZED {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := staff.Authenticate(ctx, db, in); app.ErrorCode(err) != app.EFORBIDDEN {
		t.Fatalf("after %d failures: %v, want EFORBIDDEN", staff.MaxFailures, err)
	}
	es, _ := staff.FindStaff(ctx, db)
	if len(es) != 1 || es[0].Failures != staff.MaxFailures || es[0].LockedUntil == nil {
		t.Fatalf("staff list %+v, want locked with %d failures", es[0], staff.MaxFailures)
	}

	events, err := audit.FindEvents(ctx, db, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	failed, locked := 0, 0
	for _, e := range events {
		if _, ok := e.Details["password"]; ok {
			t.Errorf("%s records a password", e.Action)
		}
		switch e.Action {
		case staff.ActionSignInFailed:
			failed++
			if e.Details["email"] != "a@example.test" || e.Details["client"] != "192.0.2.7" || e.Details["request_id"] != "req-1" {
				t.Errorf("failure details %v", e.Details)
			}
		case staff.ActionLocked:
			locked++
			if e.Details["locked"] != "email" || e.Details["minutes"] != float64(15) {
				t.Errorf("lockout details %v", e.Details)
			}
		}
	}
	if failed != staff.MaxFailures || locked != 1 {
		t.Errorf("%d failures and %d lockouts audited, want %d and 1 (the refused attempt is not audited)", failed, locked, staff.MaxFailures)
	}

	// Unlock, then a success: the trail keeps the failures.
	if ch, err := staff.Unlock(ctx, db, "A@example.test", "test"); err != nil || !ch.Changed {
		t.Fatalf("unlock: %+v %v", ch, err)
	}
	if ch, _ := staff.Unlock(ctx, db, "a@example.test", "test"); ch.Changed {
		t.Error("unlocking twice reported a change")
	}
	if n := countEvents(t, db, "staff.unlock", "a@example.test"); n != 1 {
		t.Errorf("%d staff.unlock events, want 1", n)
	}
	in.Password = password
	if _, err := staff.Authenticate(ctx, db, in); err != nil {
		t.Fatalf("sign-in after unlock: %v", err)
	}
	if n := countEvents(t, db, staff.ActionSignInFailed, "a@example.test"); n != staff.MaxFailures {
		t.Errorf("%d failures in the trail after a success, want %d", n, staff.MaxFailures)
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, map[string]string{"a@example.test": staff.RoleAdmin})
	a, _ := staff.FindStaffByEmail(ctx, db, "a@example.test")
	signIn := func(pw string) error {
		_, err := staff.Authenticate(ctx, db, staff.SignIn{Email: "a@example.test", Password: pw, Client: "192.0.2.9"})
		return err
	}

	for _, tt := range []struct{ name, current, next string }{
		{"ErrWrongCurrent", "wrong password!!", "a brand new password"},
		{"ErrTooShort", password, "short"},
		{"ErrSame", password, password},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := staff.ChangePassword(ctx, db, a.ID, tt.current, tt.next); app.ErrorCode(err) != app.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
	if err := staff.ChangePassword(ctx, db, a.ID, password, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if signIn(password) == nil || signIn("a brand new password") != nil {
		t.Error("after a change, the old password works or the new one does not")
	}

	// Break glass: locked out and the password lost.
	for i := 0; i < staff.MaxFailures; i++ {
		_ = signIn("guess")
	}
	if _, err := staff.ResetPassword(ctx, db, "a@example.test", "short", "cli"); app.ErrorCode(err) != app.EINVALID {
		t.Errorf("short reset: %v, want EINVALID", err)
	}
	if _, err := staff.ResetPassword(ctx, db, "a@example.test", "the reset password", "cli"); err != nil {
		t.Fatal(err)
	}
	if err := signIn("the reset password"); err != nil {
		t.Errorf("sign-in with the reset password, right after a lockout: %v", err)
	}
	if countEvents(t, db, "staff.reset_password", "a@example.test") != 1 || countEvents(t, db, "staff.change_password", "a@example.test") != 1 {
		t.Error("password change and reset not audited once each")
	}
}
