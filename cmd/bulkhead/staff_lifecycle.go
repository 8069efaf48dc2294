package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/staff"
)

// staffList prints every console account with its state: bulkhead staff
// list [--json].
func (c *cli) staffList(ctx context.Context, args []string) error {
	fs := c.flags("staff list")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	es, err := staff.FindStaff(ctx, db)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tROLE\tSTATE\tLAST SIGN-IN\tFAILED SIGN-INS")
	now := time.Now()
	for _, e := range es {
		state := "active"
		switch {
		case !e.Active():
			state = "disabled"
		case e.Locked(now):
			state = "locked until " + e.LockedUntil.Local().Format("15:04")
		}
		last := "never"
		if e.LastSignInAt != nil {
			last = e.LastSignInAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", e.Email, e.Role, state, last, e.Failures)
	}
	tw.Flush()
	if es == nil {
		es = []*staff.Entry{}
	}
	c.print(map[string]any{"staff": es}, b.String())
	return nil
}

// staffChange disables, enables or unlocks an account: bulkhead staff
// disable|enable|unlock --email E [--json]. Doing it twice says so and
// changes nothing.
func (c *cli) staffChange(ctx context.Context, action string, args []string) error {
	fs := c.flags("staff " + action)
	email := fs.String("email", "", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: staff %s needs --email", errUsage, action)
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	var ch *staff.Change
	var done, already string
	switch action {
	case "disable":
		ch, err = staff.DisableStaff(ctx, db, *email, cliActor)
		done, already = "Disabled %s: its console sessions end and its API keys are revoked.\n", "%s is already disabled.\n"
	case "enable":
		ch, err = staff.EnableStaff(ctx, db, *email, cliActor)
		done, already = "Enabled %s.\n", "%s is already enabled.\n"
	case "unlock":
		ch, err = staff.Unlock(ctx, db, *email, cliActor)
		done, already = "Unlocked %s: its failed sign-ins are cleared.\n", "%s had no recent failed sign-ins.\n"
	}
	if err != nil {
		return err
	}
	c.printChange(ch, done, already)
	return nil
}

func (c *cli) printChange(ch *staff.Change, done, already string) {
	msg := already
	if ch.Changed {
		msg = done
	}
	c.print(ch, fmt.Sprintf(msg, ch.Email))
}

// staffRole makes an account an administrator or support staff: bulkhead
// staff role --email E admin|support.
func (c *cli) staffRole(ctx context.Context, args []string) error {
	fs := c.flags("staff role")
	email := fs.String("email", "", "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: staff role needs --email", errUsage)
	}
	if role := pos[0]; role != staff.RoleAdmin && role != staff.RoleSupport {
		return fmt.Errorf("%w: staff role takes admin or support, not %q", errUsage, role)
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	ch, err := staff.SetRole(ctx, db, *email, pos[0], cliActor)
	if err != nil {
		return err
	}
	c.printChange(ch, "%s is now "+ch.Role+".\n", "%s is already "+ch.Role+".\n")
	return nil
}

// staffResetPassword sets a new password, read from stdin, and clears the
// account's failed sign-ins: bulkhead staff reset-password --email E. It
// is the way back in when the bootstrap password is lost.
func (c *cli) staffResetPassword(ctx context.Context, args []string) error {
	fs := c.flags("staff reset-password")
	email := fs.String("email", "", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: staff reset-password needs --email", errUsage)
	}
	password, err := c.readPassword()
	if err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	s, err := staff.ResetPassword(ctx, db, *email, password, cliActor)
	if err != nil {
		return err
	}
	note := ""
	if !s.Active() {
		note = " The account is disabled: bulkhead staff enable --email " + s.Email + " lets it sign in."
	}
	c.print(s, fmt.Sprintf("New password set for %s; its failed sign-ins are cleared.%s\n", s.Email, note))
	return nil
}
