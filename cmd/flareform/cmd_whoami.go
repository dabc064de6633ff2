package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

func newWhoamiCmd(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the API token and account flareform uses, and whether Cloudflare accepts them",
		Long: `Ask Cloudflare about CLOUDFLARE_API_TOKEN and print its status (active, disabled or
expired), whether it is a user or an account API token, and the account flareform manages:
the spec's account_id (the flareform.yaml found from here, as every command finds it, or -f),
else CLOUDFLARE_ACCOUNT_ID, with its name when the token may read it, and whether the token
reaches the account's Workers. Makes no change.

The token is verified with GET /user/tokens/verify; an account API token, which that endpoint
does not know, with GET /accounts/{id}/tokens/verify. Every command that talks to Cloudflare
makes the same check alongside its first reads, so a bad token fails at once, in plain words.

Exit 0 when the token is active and reaches the account's Workers, 1 otherwise.`,
		Example: `  flareform whoami
  flareform whoami --json | jq -r .token.status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWhoami(cmd.Context(), root, cmd.Flags().Changed("file"))
		},
	}
}

// whoamiResult is whoami's --json output.
type whoamiResult struct {
	// OK is true when the token is active and, for a known account, reaches its Workers.
	OK         bool                `json:"ok"`
	APIBaseURL string              `json:"api_base_url"`
	Token      provision.TokenInfo `json:"token"`
	Account    *whoamiAccount      `json:"account,omitempty"`
}

// whoamiAccount is the account flareform manages, as whoami found it.
type whoamiAccount struct {
	ID string `json:"id"`
	// Source says where the id came from: "account_id in <spec>", "CLOUDFLARE_ACCOUNT_ID" or
	// "the local Cloudflare".
	Source string `json:"source"`
	Name   string `json:"name,omitempty"`
	// WorkersAccess is whether the token reaches the account's Workers; Error says why not.
	WorkersAccess bool   `json:"workers_access"`
	Error         string `json:"error,omitempty"`
}

func runWhoami(ctx context.Context, opts *rootOptions, fileGiven bool) (err error) {
	eng, baseURL, account, source, closeFn, err := opts.whoamiEngine(ctx, fileGiven)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeFn(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	// The three questions go at once: one round trip (two for an account token).
	var (
		wg            sync.WaitGroup
		info          provision.TokenInfo
		verifyErr     error
		name          string
		accessErr     error
		accountReadOK bool
	)
	wg.Add(1)
	go func() { defer wg.Done(); info, verifyErr = eng.VerifyToken(ctx, account) }()
	if account != "" {
		wg.Add(2)
		go func() { defer wg.Done(); accessErr = eng.WorkersAccess(ctx, account) }()
		go func() {
			defer wg.Done()
			var nerr error
			name, nerr = eng.AccountName(ctx, account)
			accountReadOK = nerr == nil
		}()
	}
	wg.Wait()
	var tokenErr *provision.TokenError
	if verifyErr != nil && !(errors.As(verifyErr, &tokenErr) && tokenErr.Reason == provision.TokenNotActive) {
		return verifyErr // no status to show: the token is unknown, or the API did not answer
	}
	res := whoamiResult{OK: verifyErr == nil, APIBaseURL: baseURL, Token: info}
	if account != "" {
		acct := &whoamiAccount{ID: account, Source: source, WorkersAccess: accessErr == nil}
		if accountReadOK {
			acct.Name = name
		}
		if accessErr != nil {
			acct.Error = accessErr.Error()
			res.OK = false
		}
		res.Account = acct
	}
	if opts.JSON {
		if err := view.JSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		printWhoami(opts, res)
	}
	switch {
	case verifyErr != nil:
		return verifyErr
	case accessErr != nil:
		var u *provision.UnreachableError
		if errors.As(accessErr, &u) {
			return u
		}
		return fmt.Errorf("the API token cannot reach the Workers of account %s (%s): give it Workers Scripts:Edit on that account, "+
			"or fix the account id (%s)", account, accessErr, source)
	}
	return nil
}

// printWhoami prints whoami's answer for a person.
func printWhoami(opts *rootOptions, res whoamiResult) {
	w := opts.IO.Out
	kind := res.Token.Kind + " API token"
	line := fmt.Sprintf("Token:    %s, %s", res.Token.Status, kind)
	if res.Token.ID != "" {
		line += " (id " + res.Token.ID + ")"
	}
	if res.Token.ExpiresOn != "" {
		line += ", expires " + res.Token.ExpiresOn
	}
	fmt.Fprintln(w, line)
	if a := res.Account; a != nil {
		named := a.ID
		if a.Name != "" {
			named += " (" + a.Name + ")"
		}
		access := "the token reaches its Workers"
		if !a.WorkersAccess {
			access = "the token does NOT reach its Workers"
		}
		fmt.Fprintf(w, "Account:  %s, from %s; %s\n", named, a.Source, access)
	} else {
		fmt.Fprintf(w, "Account:  none set (set account_id in %s or CLOUDFLARE_ACCOUNT_ID)\n", specName)
	}
	fmt.Fprintf(w, "API:      %s\n", res.APIBaseURL)
}

// whoamiEngine builds the engine whoami asks with, and finds the account: with --local the
// local Cloudflare's (a session, which needs the spec); otherwise the spec's account_id when a
// spec is there (a spec that does not load is skipped with a note, unless -f named it), else
// CLOUDFLARE_ACCOUNT_ID.
func (o *rootOptions) whoamiEngine(ctx context.Context, fileGiven bool) (eng *provision.Engine, baseURL, account, source string, closeFn func() error, err error) {
	if o.Local {
		sess, err := o.openSession(ctx)
		if err != nil {
			return nil, "", "", "", nil, err
		}
		account = sess.Spec.AccountID
		if account == "" {
			account = sess.getenv(envAccountID)
		}
		cfg := provision.ConfigFromEnv(sess.getenv)
		return sess.Engine, cfg.APIBaseURL, account, "the local Cloudflare", sess.Close, nil
	}
	if err := requireToken(o.Getenv); err != nil {
		return nil, "", "", "", nil, err
	}
	account, source = o.Getenv(envAccountID), envAccountID
	if _, statErr := os.Stat(o.File); statErr == nil || fileGiven {
		s, lerr := spec.Load(o.File, o.Env, o.Getenv)
		switch {
		case lerr != nil && fileGiven:
			return nil, "", "", "", nil, lerr
		case lerr != nil:
			first, _, _ := strings.Cut(lerr.Error(), "\n")
			fmt.Fprintf(o.IO.ErrOut, "Note: %s does not load, so its account_id is not used: %s\n", o.File, first)
		case s.AccountID != "":
			account, source = s.AccountID, "account_id in "+o.File
		}
	}
	cfg := provision.ConfigFromEnv(o.Getenv)
	cfg.MaxRetries = 1 // a question, not a deploy: answer soon
	eng, err = provision.New(cfg)
	if err != nil {
		return nil, "", "", "", nil, fmt.Errorf("set up engine: %w", err)
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = provision.DefaultAPIBaseURL
	}
	return eng, cfg.APIBaseURL, account, source, func() error { eng.Close(); return nil }, nil
}
