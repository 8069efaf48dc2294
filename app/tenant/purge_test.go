package tenant_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestPurgerTakesTurns: instances share the work. A tenant one purger
// looked at is not looked at again by another within the period, and
// tenants without soft_delete are not entered at all.
func TestPurgerTakesTurns(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	s := tenant.NewService(db)
	tenants := map[string]*tenant.Tenant{}
	for _, id := range []string{"soft", "hard"} {
		tn, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: id}, "test")
		if err != nil {
			t.Fatal(err)
		}
		tenants[id] = tn
	}
	b, err := s.FindBehaviour(ctx, "soft")
	if err != nil {
		t.Fatal(err)
	}
	b.SoftDelete = true
	if err := s.UpdateBehaviour(ctx, "soft", *b, "test"); err != nil {
		t.Fatal(err)
	}
	// expired keeps a user deleted 31 days ago in each tenant.
	expired := func(name string) {
		t.Helper()
		for _, tn := range tenants {
			err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, active, data, deleted_at)
					VALUES (gen_random_uuid(), $1, false, '{}', now() - interval '31 days')`, name)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	left := func(tn *tenant.Tenant) (n int) {
		t.Helper()
		err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM users`)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	expired("first")
	one, other := tenant.NewPurger(s, nil), tenant.NewPurger(s, nil)
	if n, err := one.Pass(ctx); err != nil || n != 1 {
		t.Fatalf("first pass purged %d users (%v), want 1", n, err)
	}
	expired("second")
	if n, err := other.Pass(ctx); err != nil || n != 0 {
		t.Fatalf("another instance's pass within the hour purged %d users (%v), want 0", n, err)
	}
	if l := left(tenants["soft"]); l != 1 {
		t.Errorf("soft-delete tenant holds %d users, want 1 (the second, until the next period)", l)
	}
	if l := left(tenants["hard"]); l != 2 {
		t.Errorf("tenant without soft_delete holds %d users, want 2: the purge is not its to make", l)
	}
	if n, err := (&tenant.Purger{Tenants: s, Every: time.Nanosecond}).Pass(ctx); err != nil || n != 1 {
		t.Fatalf("pass after the period purged %d users (%v), want 1", n, err)
	}
}
