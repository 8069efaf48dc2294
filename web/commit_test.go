package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// TestCommitFailure: when COMMIT itself fails, after every statement of the
// write succeeded, the client must not be told the write happened, and it
// must not have. A deferred constraint trigger refuses the commit of any
// user named "refused-at-commit".
func TestCommitFailure(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	ctx := context.Background()
	err := env.db.InTenant(ctx, store.Scope{TenantID: c.tenant}, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.user_name = 'refused-at-commit' THEN
					RAISE EXCEPTION 'refused at commit';
				END IF;
				RETURN NULL;
			END $$;
			CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON users
				DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	r := c.do("POST", "/Users", user("refused-at-commit"))
	if r.Status < 400 {
		t.Fatalf("POST answered %d though its commit failed: %.300s", r.Status, r.Raw)
	}
	list := c.do("GET", "/Users?filter="+q(`userName eq "refused-at-commit"`), nil).must(t, http.StatusOK)
	if n := list.Body["totalResults"]; n != float64(0) {
		t.Fatalf("the refused user exists: totalResults %v", n)
	}

	uid := c.createUser("renamed-later")
	r = c.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "userName", "value": "refused-at-commit"}))
	if r.Status < 400 {
		t.Fatalf("PATCH answered %d though its commit failed: %.300s", r.Status, r.Raw)
	}
	if got := c.do("GET", "/Users/"+uid, nil).must(t, http.StatusOK).str("userName"); got != "renamed-later" {
		t.Fatalf("userName after the failed commit: %q", got)
	}
}
