package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/audit"
)

// auditLimit bounds how many events bulkhead audit prints.
const auditLimit = 1000

// audit prints the audit trail, newest first: bulkhead audit [--tenant ID]
// [--since 24h] [--json].
func (c *cli) audit(ctx context.Context, args []string) error {
	fs := c.flags("audit")
	tenantID := fs.String("tenant", "", "")
	since := fs.String("since", "24h", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	d, err := parseDays(*since)
	if err != nil || d <= 0 {
		return fmt.Errorf("%w: --since takes a duration such as 24h or 7d", errUsage)
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	events, err := audit.FindTrail(ctx, db, *tenantID, time.Now().Add(-d), auditLimit)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTENANT\tACTOR\tACTION\tDETAILS")
	for _, e := range events {
		tid := ""
		if e.TenantID != nil {
			tid = *e.TenantID
		}
		details, _ := json.Marshal(e.Details)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05"), tid, e.Actor, e.Action, details)
	}
	tw.Flush()
	if events == nil {
		events = []audit.Event{}
	}
	c.print(map[string]any{"events": events}, b.String())
	return nil
}
