package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// scimAudit returns the tenant's audit trail, newest first.
func scimAudit(t *testing.T, c *client) []audit.SCIMEvent {
	t.Helper()
	tn, err := env.tenants.FindTenant(context.Background(), c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	var events []audit.SCIMEvent
	err = env.db.InTenant(context.Background(), tn.Scope(), func(tx *sqlx.Tx) (err error) {
		events, err = audit.FindSCIMEvents(context.Background(), tx, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestSCIMAuditTrail: each successful write leaves exactly one event, in the
// same transaction; a failed one leaves none; nobody can rewrite the trail.
func TestSCIMAuditTrail(t *testing.T) {
	t.Parallel()
	for _, strict := range []bool{false, true} {
		c := newTenant(t, func(nt *tenant.NewTenant) { nt.Strict = strict })
		created := c.do("POST", "/Users", user("audited")).must(t, http.StatusCreated)
		id := created.str("id")
		c.do("POST", "/Users", user("AUDITED")).scimError(t, http.StatusConflict, "uniqueness")
		c.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "id", "value": "x"})).scimError(t, http.StatusBadRequest, "mutability")
		c.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "title", "value": "x"})).must(t, http.StatusOK)
		c.do("PUT", "/Users/"+id, user("audited")).must(t, http.StatusOK)
		c.do("POST", "/Bulk", bulkBody(0, map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1",
			"data": map[string]any{"schemas": []string{groupSchema}, "displayName": "Audited"}}))
		c.do("DELETE", "/Users/"+id, nil).must(t, http.StatusNoContent)
		c.do("DELETE", "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")

		events := scimAudit(t, c)
		var actions []string
		for i := len(events) - 1; i >= 0; i-- {
			actions = append(actions, events[i].Action)
		}
		if got := strings.Join(actions, ","); got != "user.create,user.patch,user.replace,group.create,user.delete" {
			t.Fatalf("strict=%v: audit actions %s", strict, got)
		}
		e := events[len(events)-1]
		if e.Target != id || !strings.HasPrefix(e.Actor, "token:bh_") || e.RequestID == "" || e.ClientAddr == "" || e.Outcome != "success" {
			t.Errorf("event = %+v", e)
		}
		if events[1].Details["bulkId"] != "g1" {
			t.Errorf("bulk event details = %v", events[1].Details)
		}
		// Append-only, for the application's role too.
		tn, _ := env.tenants.FindTenant(context.Background(), c.tenant)
		for _, q := range []string{`UPDATE audit_events SET actor = 'someone else'`, `DELETE FROM audit_events`, `TRUNCATE audit_events`} {
			err := env.db.InTenant(context.Background(), tn.Scope(), func(tx *sqlx.Tx) error {
				_, err := tx.ExecContext(context.Background(), q)
				return err
			})
			if err == nil {
				t.Errorf("strict=%v: %s succeeded", strict, q)
			}
		}
	}
	if _, err := env.db.ExecContext(context.Background(), `DELETE FROM control.audit_events`); err == nil {
		t.Error("the control plane's audit trail could be deleted")
	}
}
