package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// staffRow finds the account's row on the staff page.
func staffRow(p *page, email string) (role, state, failures string, actions []string) {
	row := p.Doc.Find(`[data-testid=staff-row][data-email="` + email + `"]`)
	row.Find(`button`).Each(func(_ int, b *goquery.Selection) { actions = append(actions, b.Text()) })
	return strings.TrimSpace(row.Find(`[data-testid=staff-role]`).Text()),
		strings.Join(strings.Fields(row.Find(`[data-testid=staff-state]`).Text()), " "),
		strings.TrimSpace(row.Find(`[data-testid=staff-failures]`).Text()), actions
}

func (cs *consoleServer) staffID(t testing.TB, email string) string {
	t.Helper()
	return cs.account(t, email).ID.String()
}

func (cs *consoleServer) account(t testing.TB, email string) *staff.Staff {
	t.Helper()
	s, err := staff.FindStaffByEmail(context.Background(), cs.db, email)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConsoleStaff(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	admin := cs.signedIn(t, staff.RoleAdmin)
	email := uniq("new") + "@example.test"

	t.Run("Create", func(t *testing.T) {
		p := admin.get("/admin/staff").must(t, http.StatusOK)
		if p.Doc.Find(`nav a[href="/admin/staff"]`).Length() != 1 {
			t.Error("no Staff link in the navigation for an admin")
		}
		p = admin.post("/admin/staff", url.Values{"email": {email}, "role": {"support"}, "password": {"short"}}).must(t, http.StatusBadRequest)
		if got := p.text(`[data-testid=staff-error]`); !strings.Contains(got, "at least 12 characters") {
			t.Errorf("error %q", got)
		}
		if v, _ := p.Doc.Find(`#f-email`).Attr("value"); v != email {
			t.Errorf("the email typed is not kept: %q", v)
		}
		admin.post("/admin/staff", url.Values{"email": {email}, "role": {"support"}, "password": {"correct horse battery staple"}}).must(t, http.StatusSeeOther)
		p = admin.get("/admin/staff").must(t, http.StatusOK)
		if got := p.text(`[data-testid=flash]`); got != "Created support account "+email+"." {
			t.Errorf("flash %q", got)
		}
		if role, state, failures, _ := staffRow(p, email); role != "support" || state != "Active" || failures != "0" {
			t.Errorf("row: %s %s %s", role, state, failures)
		}
		admin.post("/admin/staff", url.Values{"email": {strings.ToUpper(email)}, "role": {"admin"}, "password": {"correct horse battery staple"}}).must(t, http.StatusConflict)
	})

	t.Run("DisableSignsOut", func(t *testing.T) {
		person := cs.browser(t)
		person.signIn(email, "correct horse battery staple")
		id := cs.staffID(t, email)
		key, err := staff.CreateAPIKey(context.Background(), cs.db, cs.account(t, email).ID, "script", "test")
		if err != nil {
			t.Fatal(err)
		}
		admin.post("/admin/staff/"+id+"/disable", nil).must(t, http.StatusSeeOther)
		p := admin.get("/admin/staff")
		if got := p.text(`[data-testid=flash]`); got != "Disabled "+email+": signed out, API keys revoked." {
			t.Errorf("flash %q", got)
		}
		if _, state, _, actions := staffRow(p, email); state != "Disabled" || !hasText(actions, "Enable") {
			t.Errorf("row: %s %v", state, actions)
		}
		if loc := person.get("/admin/tenants").must(t, http.StatusSeeOther).Header.Get("Location"); !strings.HasPrefix(loc, "/admin/signin") {
			t.Errorf("a disabled account's session goes on: Location %q", loc)
		}
		person.get("/admin/account").must(t, http.StatusSeeOther)
		if status, _ := cs.api(t, key.Secret, "GET", "/tenants", nil); status != http.StatusUnauthorized {
			t.Errorf("a disabled account's API key: %d, want 401", status)
		}
		person.get("/admin/signin") // the ended session took its CSRF token along
		p = person.post("/admin/signin", url.Values{"email": {email}, "password": {"correct horse battery staple"}}).must(t, http.StatusUnauthorized)
		if got := p.text(`[data-testid=signin-error]`); !strings.Contains(got, "disabled") {
			t.Errorf("sign-in of a disabled account says %q", got)
		}

		admin.post("/admin/staff/"+id+"/disable", nil).must(t, http.StatusSeeOther)
		if got := admin.get("/admin/staff").text(`[data-testid=flash]`); got != email+" is already disabled." {
			t.Errorf("second disable: flash %q", got)
		}
		events, _ := audit.FindEvents(context.Background(), cs.db, "", 1000)
		n := 0
		for _, e := range events {
			if e.Action == "staff.disable" && e.Details["email"] == email {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d staff.disable events, want 1", n)
		}
		admin.post("/admin/staff/"+id+"/enable", nil).must(t, http.StatusSeeOther)
		person.signIn(email, "correct horse battery staple")
	})

	t.Run("UnlockAndRole", func(t *testing.T) {
		b := cs.browser(t)
		b.get("/admin/signin")
		for i := 0; i < staff.MaxFailures; i++ {
			b.post("/admin/signin", url.Values{"email": {email}, "password": {"not the password"}}).must(t, http.StatusUnauthorized)
		}
		p := admin.get("/admin/staff")
		if _, state, failures, actions := staffRow(p, email); !strings.HasPrefix(state, "Locked in 1") || failures != "5" || !hasText(actions, "Unlock") {
			t.Errorf("locked row: %q %q %v", state, failures, actions)
		}
		id := cs.staffID(t, email)
		admin.post("/admin/staff/"+id+"/unlock", nil).must(t, http.StatusSeeOther)
		if _, state, failures, _ := staffRow(admin.get("/admin/staff"), email); state != "Active" || failures != "0" {
			t.Errorf("after unlock: %s %s", state, failures)
		}
		b.signIn(email, "correct horse battery staple")

		admin.post("/admin/staff/"+id+"/role", url.Values{"role": {"admin"}}).must(t, http.StatusSeeOther)
		if role, _, _, _ := staffRow(admin.get("/admin/staff"), email); role != "admin" {
			t.Errorf("role %q after promotion", role)
		}
		b.get("/admin/staff").must(t, http.StatusOK) // at once, in the session it has
		admin.post("/admin/staff/"+id+"/role", url.Values{"role": {"owner"}}).must(t, http.StatusBadRequest)
	})

	t.Run("ErrSupport", func(t *testing.T) {
		// The server's refusals: TestConsoleRouteRoles.
		sup := cs.signedIn(t, staff.RoleSupport)
		if p := sup.get("/admin/tenants"); p.Doc.Find(`nav a[href="/admin/staff"]`).Length() != 0 {
			t.Error("support sees the Staff link")
		}
	})

	t.Run("ErrCSRF", func(t *testing.T) {
		id := cs.staffID(t, email)
		admin.post("/admin/staff/"+id+"/disable", url.Values{"csrf": {"not-the-token"}}).must(t, http.StatusForbidden)
		if s, _ := staff.FindStaffByEmail(context.Background(), cs.db, email); !s.Active() {
			t.Error("disabled without a valid CSRF token")
		}
		admin.post("/admin/account/password", url.Values{"csrf": {""}, "current": {"correct horse battery staple"}, "password": {"x"}}).must(t, http.StatusForbidden)
	})
}

// TestConsoleStaffLastAdmin: the only administrator cannot demote or
// disable themselves; the page says why.
func TestConsoleStaffLastAdmin(t *testing.T) {
	t.Parallel()
	cs := newConsoleServer(t, storetest.NewDB(t), nil, nil)
	b := cs.signedIn(t, staff.RoleAdmin)
	email := strings.TrimSpace(b.get("/admin/account").Doc.Find(`.who-email`).Text())
	id := cs.staffID(t, email)
	for _, action := range []string{"disable", "role"} {
		p := b.post("/admin/staff/"+id+"/"+action, url.Values{"role": {"support"}}).must(t, http.StatusConflict)
		if got := p.text(`[data-testid=staff-error]`); !strings.Contains(got, "last active administrator") {
			t.Errorf("%s: %q", action, got)
		}
	}
	b.get("/admin/staff").must(t, http.StatusOK)
}

func TestConsoleChangePassword(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	email, password := cs.newStaff(t, staff.RoleSupport)
	b := cs.browser(t)
	b.signIn(email, password)
	b.get("/admin/account").must(t, http.StatusOK)
	for _, tt := range []struct {
		name, current, next, confirm, want string
	}{
		{"ErrWrongCurrent", "wrong password!!", "a brand new password", "a brand new password", "the current password is wrong"},
		{"ErrDiffer", password, "a brand new password", "a brand new passwore", "the two new passwords differ"},
		{"ErrShort", password, "short", "short", "the password must have at least 12 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/admin/account/password", url.Values{"current": {tt.current}, "password": {tt.next}, "confirm": {tt.confirm}}).must(t, http.StatusBadRequest)
			if got := p.text(`[data-testid=password-error]`); got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
	b.post("/admin/account/password", url.Values{"current": {password}, "password": {"a brand new password"}, "confirm": {"a brand new password"}}).must(t, http.StatusSeeOther)
	if got := b.get("/admin/account").text(`[data-testid=flash]`); got != "Password changed." {
		t.Errorf("flash %q", got)
	}
	other := cs.browser(t)
	other.get("/admin/signin")
	other.post("/admin/signin", url.Values{"email": {email}, "password": {password}}).must(t, http.StatusUnauthorized)
	other.signIn(email, "a brand new password")
}

func hasText(xs []string, x string) bool {
	for _, s := range xs {
		if strings.TrimSpace(s) == x {
			return true
		}
	}
	return false
}
