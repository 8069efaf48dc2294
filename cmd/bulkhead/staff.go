package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/bulkhead-dev/bulkhead/app/staff"
)

func (c *cli) staff(ctx context.Context, args []string) error {
	if len(args) >= 2 && args[0] == "apikey" && args[1] == "create" {
		return c.staffAPIKeyCreate(ctx, args[2:])
	}
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return c.staffList(ctx, args[1:])
		case "disable", "enable", "unlock":
			return c.staffChange(ctx, args[0], args[1:])
		case "role":
			return c.staffRole(ctx, args[1:])
		case "reset-password":
			return c.staffResetPassword(ctx, args[1:])
		}
	}
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: staff needs a subcommand: create, list, disable, enable, role, reset-password, unlock or apikey create", errUsage)
	}
	fs := c.flags("staff create")
	email := fs.String("email", "", "")
	role := fs.String("role", "", "")
	if _, err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	if *email == "" || *role == "" {
		return fmt.Errorf("%w: staff create needs --email and --role", errUsage)
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
	s, err := staff.CreateStaff(ctx, db, *email, *role, password, cliActor)
	if err != nil {
		return err
	}
	c.print(s, fmt.Sprintf("Created %s account %s.\n", s.Role, s.Email))
	return nil
}

// readPassword reads one line from stdin, without echo on a terminal.
func (c *cli) readPassword() (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%w: the password is read from stdin, one line", errUsage)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
