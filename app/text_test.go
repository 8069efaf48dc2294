package app_test

import (
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
)

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // part of the message; "" when accepted
	}{
		{"OK", "Acme Corp", ""},
		{"AtLimitInCharacters", strings.Repeat("é", 10), ""},
		{"TooLong", strings.Repeat("x", 11), "has 11 characters; at most 10"},
		{"NUL", "ac\x00me", "control characters"},
		{"LineBreak", "acme\n", "control characters"},
		{"InvalidUTF8", "ac\xffme", "not valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := app.CheckName("the tenant's name", tt.in, 10)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), tt.want) ||
				!strings.HasPrefix(app.ErrorMessage(err), "the tenant's name") {
				t.Fatalf("err = %v, want EINVALID saying %q", err, tt.want)
			}
		})
	}
}
