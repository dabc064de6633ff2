package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// kvAPI is the KV namespace kind (`kv:` on a worker: binding -> namespace title). Titles are
// unique per account; a binding names the namespace by id, which the account's namespace list
// (read once per plan) maps to its title and back.
type kvAPI struct{}

func (kvAPI) kindName() string                             { return "kv_namespace" }
func (kvAPI) short() string                                { return "kv" }
func (kvAPI) noun() string                                 { return "KV namespace" }
func (kvAPI) bindingType() string                          { return "kv_namespace" }
func (kvAPI) bindings(w spec.Worker) []spec.StorageBinding { return w.KV }
func (kvAPI) idOf(b bindingJSON) string                    { return b.NamespaceID }
func (kvAPI) idByName(string) string                       { return "" }

func (kvAPI) binding(binding, id string) metadataBinding {
	return metadataBinding{Type: "kv_namespace", Name: binding, NamespaceID: id}
}

// kvNamespace is a namespace as the API lists it.
type kvNamespace struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func kvPath(accountID string) string { return "accounts/" + accountID + "/storage/kv/namespaces" }

// list is the account's namespaces, read once per plan.
func (kvAPI) list(ctx context.Context, e *Engine, accountID string) (*storageList, error) {
	return readListed(ctx, e, "kv", kvPath(accountID), "KV namespaces", func(ns kvNamespace) (string, string) { return ns.ID, ns.Title })
}

func (a kvAPI) find(ctx context.Context, e *Engine, accountID, name string) (string, any, error) {
	l, err := a.list(ctx, e, accountID)
	return findListed(l, err, name, func(id string) any { return kvNamespace{ID: id, Title: name} })
}

func (a kvAPI) nameOf(ctx context.Context, e *Engine, accountID, id string) (string, bool, error) {
	l, err := a.list(ctx, e, accountID)
	return nameListed(l, err, id)
}

func (kvAPI) create(ctx context.Context, e *Engine, accountID, name string) (string, error) {
	var ns kvNamespace
	if err := e.api.Call(ctx, http.MethodPost, kvPath(accountID), map[string]string{"title": name}, &ns); err != nil {
		return "", err
	}
	if ns.ID == "" {
		return "", fmt.Errorf("the API answered no id for namespace %s", name)
	}
	return ns.ID, nil
}

// kvKeysLimit is how many keys a plan lists to tell whether a namespace holds data (the
// API's smallest page).
const kvKeysLimit = 10

func (kvAPI) holds(ctx context.Context, e *Engine, accountID, id string) (dataState, error) {
	var keys []struct {
		Name string `json:"name"`
	}
	err := e.api.Call(ctx, http.MethodGet, fmt.Sprintf("%s/%s/keys?limit=%d", kvPath(accountID), url.PathEscape(id), kvKeysLimit), nil, &keys)
	if err != nil {
		return dataState{}, fmt.Errorf("list keys: %w", err)
	}
	if len(keys) == 0 {
		return dataState{}, nil
	}
	return dataState{holds: true, what: countText(len(keys), kvKeysLimit, "key", "keys")}, nil
}

func (kvAPI) deletesWith() string { return "deletes it with its keys" }

// emptyOut: deleting a namespace deletes its keys.
func (kvAPI) emptyOut(context.Context, *Engine, string, string) error { return nil }

func (kvAPI) remove(ctx context.Context, e *Engine, accountID, id string) error {
	err := e.api.Call(ctx, http.MethodDelete, kvPath(accountID)+"/"+url.PathEscape(id), nil, nil)
	if err != nil && !cfapi.IsNotFound(err) { // already gone: the goal is reached
		return err
	}
	return nil
}
