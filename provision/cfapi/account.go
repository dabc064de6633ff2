package cfapi

import (
	"context"

	"github.com/cloudflare/cloudflare-go/v6/ai"
	"github.com/cloudflare/cloudflare-go/v6/workers"
)

// Account is a handle on one account's account-level calls (its workers.dev subdomain, its
// scripts, the Workers AI catalog). Making one sends nothing; errors are as Script's.
type Account struct {
	c  *Client
	id string
}

// Account is the handle on the account accountID.
func (c *Client) Account(accountID string) Account {
	return Account{c: c, id: accountID}
}

// Subdomain is the account's workers.dev subdomain (GET …/workers/subdomain); an account that
// has none answers not found (IsNotFound).
func (a Account) Subdomain(ctx context.Context) (string, error) {
	sub, err := a.c.workers.Subdomains.Get(ctx, accountParams[workers.SubdomainGetParams](a.id))
	if err != nil {
		return "", cleanAPIError(err)
	}
	return sub.Subdomain, nil
}

// RegisterSubdomain sets the account's workers.dev subdomain to name.
func (a Account) RegisterSubdomain(ctx context.Context, name string) error {
	_, err := a.c.workers.Subdomains.Update(ctx, sdkParams(func(p *workers.SubdomainUpdateParams) {
		setParam(&p.AccountID, a.id)
		setParam(&p.Subdomain, name)
	}))
	return cleanAPIError(err)
}

// ScriptSummary is one script of the account's script list.
type ScriptSummary struct {
	Name string
	Tags []string
}

// Scripts lists the account's scripts with their tags (one call).
func (a Account) Scripts(ctx context.Context) ([]ScriptSummary, error) {
	page, err := a.c.workers.Scripts.List(ctx, accountParams[workers.ScriptListParams](a.id))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	out := make([]ScriptSummary, 0, len(page.Result))
	for _, sc := range page.Result {
		out = append(out, ScriptSummary{Name: sc.ID, Tags: sc.Tags})
	}
	return out, nil
}

// SearchModels is one page (1-based, perPage items) of the Workers AI catalog's search for term
// (GET …/ai/models/search). Each item is the model as the API sent it, decoded from JSON:
// {name, task: {name}, properties: [{property_id, value}], …}.
func (a Account) SearchModels(ctx context.Context, term string, page, perPage int64) ([]any, error) {
	res, err := a.c.ai.Models.List(ctx, sdkParams(func(p *ai.ModelListParams) {
		setParam(&p.AccountID, a.id)
		setParam(&p.Search, term)
		setParam(&p.Page, page)
		setParam(&p.PerPage, perPage)
	}))
	if err != nil {
		return nil, cleanAPIError(err)
	}
	items := make([]any, 0, len(res.Result))
	for _, item := range res.Result {
		items = append(items, item)
	}
	return items, nil
}
