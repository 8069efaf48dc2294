package app

import (
	"unicode"
	"unicode/utf8"
)

// CheckName returns EINVALID unless name, a name staff give something (a
// tenant, a SCIM token, an API key), is valid UTF-8 without control
// characters and at most max characters long. The domain checks it, so that
// the CLI, the admin API and the console all refuse the same names with the
// same message; what says whose name it is ("the tenant's name").
func CheckName(what, name string, max int) error {
	if !utf8.ValidString(name) {
		return Errorf(EINVALID, "%s is not valid UTF-8 text", what)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "%s cannot contain control characters such as NUL, tabs or line breaks", what)
		}
	}
	if n := utf8.RuneCountInString(name); n > max {
		return Errorf(EINVALID, "%s has %d characters; at most %d are allowed", what, n, max)
	}
	return nil
}
