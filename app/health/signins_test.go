package health_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestSignIns: Health warns on an account locked by the sign-in throttle
// and on a burst of failures across accounts, which no single account's
// throttle shows.
func TestSignIns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	if _, err := staff.CreateStaff(ctx, db, "ops@example.test", staff.RoleAdmin, "correct horse battery staple", "test"); err != nil {
		t.Fatal(err)
	}
	check := func() insight.Check {
		t.Helper()
		r, err := insight.NewBasic(tenant.NewService(db)).Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Checks {
			if c.Name == "Failed sign-ins" {
				return c
			}
		}
		t.Fatal("no sign-in check")
		return insight.Check{}
	}
	if c := check(); c.Level != health.OK {
		t.Fatalf("quiet: %+v", c)
	}
	fail := func(email, client string) {
		_, _ = staff.Authenticate(ctx, db, staff.SignIn{Email: email, Password: "a wrong password", Client: client})
	}

	for i := 0; i < staff.MaxFailures; i++ {
		fail("ops@example.test", "192.0.2.1")
	}
	si, err := health.FindSignIns(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(si.Locked) != 1 || si.Locked[0].Email != "ops@example.test" || si.Burst() {
		t.Fatalf("after locking one account: %+v", si)
	}
	if c := check(); c.Level != health.Warn || !strings.Contains(c.Detail, "1 account locked after failed sign-ins: ops@example.test") {
		t.Errorf("locked account: %+v", c)
	}
	if _, err := staff.Unlock(ctx, db, "ops@example.test", "test"); err != nil {
		t.Fatal(err)
	}

	// Guesses spread over emails and addresses, under every throttle.
	for i := 0; i < health.SignInBurst+1-staff.MaxFailures; i++ {
		fail(fmt.Sprintf("guess%d@example.test", i), fmt.Sprintf("192.0.2.%d", 10+i))
	}
	si, _ = health.FindSignIns(ctx, db)
	if len(si.Locked) != 0 || si.Failures != health.SignInBurst+1 || !si.Burst() {
		t.Fatalf("after a burst: %d failures, %d locked", si.Failures, len(si.Locked))
	}
	if c := check(); c.Level != health.Warn || !strings.Contains(c.Detail, "someone may be guessing passwords") {
		t.Errorf("burst: %+v", c)
	}
}
