package web

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/templates"
)

// staffPage lists the console accounts. Administrators only.
func (s *Server) staffPage(c echo.Context) error {
	return s.renderStaff(c, http.StatusOK, templates.StaffParams{})
}

// renderStaff renders the staff page with p's error and form values.
func (s *Server) renderStaff(c echo.Context, status int, p templates.StaffParams) error {
	es, err := staff.FindStaff(c.Request().Context(), s.cfg.DB)
	if err != nil {
		return err
	}
	p.Page, p.Staff = s.page(c, "Staff", "staff"), es
	return render(c, status, templates.StaffList(p))
}

// refused renders the staff page with the reason an action was refused,
// for the errors a person can act on; any other error goes to the error
// handler.
func (s *Server) refused(c echo.Context, err error, p templates.StaffParams) error {
	status := map[string]int{app.EINVALID: http.StatusBadRequest, app.ECONFLICT: http.StatusConflict}[app.ErrorCode(err)]
	if status == 0 {
		return err
	}
	p.Error = app.ErrorMessage(err)
	return s.renderStaff(c, status, p)
}

// createStaff creates an account from the form: email, role, initial
// password.
func (s *Server) createStaff(c echo.Context) error {
	email, role := c.FormValue("email"), c.FormValue("role")
	st, err := staff.CreateStaff(c.Request().Context(), s.cfg.DB, email, role, c.FormValue("password"), actor(c))
	if err != nil {
		return s.refused(c, err, templates.StaffParams{Created: true, Email: email, Role: role})
	}
	s.flash(c, "Created "+st.Role+" account "+st.Email+".")
	return seeOther(c, "/admin/staff")
}

// staffAction runs one lifecycle action on the account :id and says what
// happened, or that nothing did because the account was so already.
func (s *Server) staffAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, err := uuid.Parse(c.Param("id"))
		if err != nil {
			return app.Errorf(app.ENOTFOUND, "staff account not found")
		}
		target, err := staff.FindStaffByID(ctx, s.cfg.DB, id)
		if err != nil {
			return err
		}
		var ch *staff.Change
		var done, already string
		switch action {
		case "disable":
			ch, err = staff.DisableStaff(ctx, s.cfg.DB, target.Email, actor(c))
			done, already = "Disabled %s: signed out, API keys revoked.", "%s is already disabled."
		case "enable":
			ch, err = staff.EnableStaff(ctx, s.cfg.DB, target.Email, actor(c))
			done, already = "Enabled %s.", "%s is already enabled."
		case "role":
			role := c.FormValue("role")
			ch, err = staff.SetRole(ctx, s.cfg.DB, target.Email, role, actor(c))
			done, already = "%s is now "+role+".", "%s is already "+role+"."
		case "unlock":
			ch, err = staff.Unlock(ctx, s.cfg.DB, target.Email, actor(c))
			done, already = "Unlocked %s: its failed sign-ins are cleared.", "%s had no recent failed sign-ins."
		}
		if err != nil {
			return s.refused(c, err, templates.StaffParams{})
		}
		msg := already
		if ch.Changed {
			msg = done
		}
		s.flash(c, fmt.Sprintf(msg, ch.Email))
		if ch.ID == staffOf(c).ID && (!ch.Active() || ch.Role != staff.RoleAdmin) {
			// Administrators only, which the person no longer is.
			return seeOther(c, "/admin/account")
		}
		return seeOther(c, "/admin/staff")
	}
}

// changePassword changes the signed-in person's own password, given the
// current one.
func (s *Server) changePassword(c echo.Context) error {
	ctx := c.Request().Context()
	current, password := c.FormValue("current"), c.FormValue("password")
	var err error
	if password != c.FormValue("confirm") {
		err = app.Errorf(app.EINVALID, "the two new passwords differ")
	} else {
		err = staff.ChangePassword(ctx, s.cfg.DB, staffOf(c).ID, current, password)
	}
	if app.ErrorCode(err) == app.EINVALID {
		p, perr := s.accountParams(c)
		if perr != nil {
			return perr
		}
		p.PasswordError = app.ErrorMessage(err)
		return render(c, http.StatusBadRequest, templates.Account(*p))
	} else if err != nil {
		return err
	}
	s.flash(c, "Password changed.")
	return seeOther(c, "/admin/account")
}
