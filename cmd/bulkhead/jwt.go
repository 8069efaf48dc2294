package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// maxKeyBytes bounds a key file or secret read by the CLI.
const maxKeyBytes = 1 << 20

// jwt runs `tenant jwt add|list|remove`.
func (c *cli) jwt(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenant jwt needs add, list or remove", errUsage)
	}
	switch args[0] {
	case "add":
		return c.jwtAdd(ctx, args[1:])
	case "list":
		return c.jwtList(ctx, args[1:])
	case "remove":
		return c.jwtRemove(ctx, args[1:])
	}
	return fmt.Errorf("%w: unknown tenant jwt subcommand %q", errUsage, args[0])
}

func (c *cli) jwtAdd(ctx context.Context, args []string) error {
	fs := c.flags("tenant jwt add")
	var ni credential.NewIssuer
	fs.StringVar(&ni.Issuer, "issuer", "", "")
	fs.StringVar(&ni.Algorithm, "alg", "", "")
	fs.StringVar(&ni.Audience, "audience", "", "")
	keyFile := fs.String("key-file", "", "")
	secretStdin := fs.Bool("secret-stdin", false, "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	ni.Algorithm = strings.ToUpper(ni.Algorithm)
	switch {
	case ni.Issuer == "":
		return fmt.Errorf("%w: --issuer is required: the exact iss claim of the issuer's tokens", errUsage)
	case ni.Algorithm != credential.AlgHS256 && ni.Algorithm != credential.AlgRS256 && ni.Algorithm != credential.AlgES256:
		return fmt.Errorf("%w: --alg must be HS256, RS256 or ES256", errUsage)
	case (*keyFile == "") == !*secretStdin:
		return fmt.Errorf("%w: give exactly one of --key-file FILE and --secret-stdin", errUsage)
	case *secretStdin && ni.Algorithm != credential.AlgHS256:
		return fmt.Errorf("%w: --secret-stdin is for HS256; give an %s public key (PEM or JWKS) with --key-file", errUsage, ni.Algorithm)
	}
	var r io.Reader = c.stdin
	if *keyFile != "" {
		f, err := os.Open(*keyFile)
		if err != nil {
			return fmt.Errorf("read the key: %w", err)
		}
		defer f.Close()
		r = f
	}
	if ni.Key, err = io.ReadAll(io.LimitReader(r, maxKeyBytes)); err != nil {
		return fmt.Errorf("read the key: %w", err)
	}
	if ni.Algorithm == credential.AlgHS256 {
		// A secret typed or echoed ends with a newline that is not part of it.
		s := strings.TrimSuffix(strings.TrimSuffix(string(ni.Key), "\n"), "\r")
		ni.Key = []byte(s)
	}
	return c.withTenants(ctx, func(ts *tenant.Service) error {
		s := credential.NewService(ts)
		is, err := s.AddIssuer(ctx, pos[0], ni, cliActor)
		if err != nil {
			return err
		}
		aud := is.Audience
		if aud == "" {
			aud = c.scimBaseURL(is.TenantID) + " (the tenant's SCIM base URL)"
		}
		c.print(is, fmt.Sprintf("Added JWT issuer %s for tenant %s.\n  iss:       %s\n  algorithm: %s\n  key:       %s\n  audience:  %s\n",
			is.ID, is.TenantID, is.Issuer, is.Algorithm, is.KeySummary, aud))
		return nil
	})
}

func (c *cli) jwtList(ctx context.Context, args []string) error {
	fs := c.flags("tenant jwt list")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(ts *tenant.Service) error {
		s := credential.NewService(ts)
		if _, err := ts.FindTenant(ctx, pos[0]); err != nil {
			return err
		}
		list, err := s.FindIssuers(ctx, pos[0])
		if err != nil {
			return err
		}
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tISSUER\tALG\tKEY\tAUDIENCE\tLAST USED")
		for _, is := range list {
			aud, used := is.Audience, "never"
			if aud == "" {
				aud = "(SCIM base URL)"
			}
			if is.LastUsedAt != nil {
				used = is.LastUsedAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", is.ID, is.Issuer, is.Algorithm, is.KeySummary, aud, used)
		}
		tw.Flush()
		if list == nil {
			list = []*credential.Issuer{}
		}
		c.print(map[string]any{"tenant_id": pos[0], "issuers": list}, b.String())
		return nil
	})
}

func (c *cli) jwtRemove(ctx context.Context, args []string) error {
	fs := c.flags("tenant jwt remove")
	pos, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(ts *tenant.Service) error {
		s := credential.NewService(ts)
		if err := s.RemoveIssuer(ctx, pos[0], pos[1], cliActor); err != nil {
			return err
		}
		c.print(map[string]any{"tenant_id": pos[0], "issuer_id": pos[1], "removed": true},
			fmt.Sprintf("Removed JWT issuer %s of tenant %s; its tokens are refused from now on.\n", pos[1], pos[0]))
		return nil
	})
}
