package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// maxExtensionBytes bounds an extension definition read from a file.
const maxExtensionBytes = 1 << 20

// schema: bulkhead tenant schema add|list|remove|purge.
func (c *cli) schema(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenant schema needs add, list, remove or purge", errUsage)
	}
	switch args[0] {
	case "add":
		return c.schemaAdd(ctx, args[1:])
	case "list":
		return c.schemaList(ctx, args[1:])
	case "remove":
		return c.schemaRemove(ctx, args[1:])
	case "purge":
		return c.schemaPurge(ctx, args[1:])
	}
	return fmt.Errorf("%w: unknown tenant schema subcommand %q", errUsage, args[0])
}

// schemaAdd: bulkhead tenant schema add ID FILE|- (a JSON definition).
func (c *cli) schemaAdd(ctx context.Context, args []string) error {
	fs := c.flags("tenant schema add")
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	in, err := c.input(pos[1])
	if err != nil {
		return fmt.Errorf("read the definition: %w", err)
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, maxExtensionBytes))
	if err != nil {
		return fmt.Errorf("read the definition: %w", err)
	}
	ext, err := scim.ParseExtension(data)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		if err := s.PutSchemaExtension(ctx, pos[0], ext, cliActor); err != nil {
			return err
		}
		c.print(map[string]any{"tenant_id": pos[0], "definition": ext.Def()},
			fmt.Sprintf("Tenant %s now serves %s on its %ss (%d attributes).\n", pos[0], ext.Schema.ID, ext.ResourceType, len(ext.Schema.Attributes)))
		return nil
	})
}

// schemaList: bulkhead tenant schema list ID.
func (c *cli) schemaList(ctx context.Context, args []string) error {
	fs := c.flags("tenant schema list")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		list, err := s.FindSchemaExtensions(ctx, pos[0])
		if err != nil {
			return err
		}
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCHEMA\tATTRIBUTES\tSTATUS\tUPDATED")
		for _, e := range list {
			var names []string
			for _, a := range e.Definition.Attributes {
				names = append(names, a.Name+" ("+a.Type+")")
			}
			status := "in service"
			if e.RemovedAt != nil {
				status = "removed, values kept"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Definition.Schema, strings.Join(names, ", "), status, e.UpdatedAt.Format("2006-01-02 15:04"))
		}
		tw.Flush()
		if len(list) == 0 {
			b.Reset()
			b.WriteString("No schema extensions: add one with bulkhead tenant schema add " + pos[0] + " FILE\n")
		}
		if list == nil {
			list = []*tenant.SchemaExtension{}
		}
		c.print(map[string]any{"tenant_id": pos[0], "extensions": list}, b.String())
		return nil
	})
}

// schemaRemove: bulkhead tenant schema remove ID URN.
func (c *cli) schemaRemove(ctx context.Context, args []string) error {
	fs := c.flags("tenant schema remove")
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		if err := s.RemoveSchemaExtension(ctx, pos[0], pos[1], cliActor); err != nil {
			return err
		}
		c.print(map[string]any{"tenant_id": pos[0], "schema": pos[1], "removed": true},
			fmt.Sprintf("Tenant %s no longer serves %s. Its stored values are kept: add the extension again to bring them back, or delete them with bulkhead tenant schema purge.\n", pos[0], pos[1]))
		return nil
	})
}

// schemaPurge: bulkhead tenant schema purge ID URN --yes.
func (c *cli) schemaPurge(ctx context.Context, args []string) error {
	fs := c.flags("tenant schema purge")
	yes := fs.Bool("yes", false, "")
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	if !*yes {
		return fmt.Errorf("%w: purging %s deletes its values from every resource of tenant %s: confirm with --yes", errUsage, pos[1], pos[0])
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		n, err := s.PurgeSchemaExtension(ctx, pos[0], pos[1], cliActor)
		if err != nil {
			return err
		}
		c.print(map[string]any{"tenant_id": pos[0], "schema": pos[1], "purged_resources": n},
			fmt.Sprintf("Purged %s from tenant %s: values deleted from %d resources.\n", pos[1], pos[0], n))
		return nil
	})
}
