package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// d1API is the D1 database kind (`d1:` on a worker: binding -> database name). Names are
// unique per account; a binding names the database by uuid, which the account's database
// list (read once per plan) maps to its name and back.
type d1API struct{}

func (d1API) kindName() string                             { return "d1_database" }
func (d1API) short() string                                { return "d1" }
func (d1API) noun() string                                 { return "D1 database" }
func (d1API) bindingType() string                          { return "d1" }
func (d1API) bindings(w spec.Worker) []spec.StorageBinding { return w.D1 }
func (d1API) idByName(string) string                       { return "" }

func (d1API) idOf(b bindingJSON) string {
	if b.ID != "" {
		return b.ID
	}
	return b.DatabaseID
}

func (d1API) binding(binding, id string) metadataBinding {
	return metadataBinding{Type: "d1", Name: binding, ID: id}
}

// d1Database is a database as the API lists and answers it.
type d1Database struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	NumTables *int   `json:"num_tables,omitempty"`
	FileSize  *int64 `json:"file_size,omitempty"`
}

func d1Path(accountID string) string { return "accounts/" + accountID + "/d1/database" }

// list is the account's databases, read once per plan.
func (d1API) list(ctx context.Context, e *Engine, accountID string) (*storageList, error) {
	return readListed(ctx, e, "d1", d1Path(accountID), "D1 databases", func(db d1Database) (string, string) { return db.UUID, db.Name })
}

func (a d1API) find(ctx context.Context, e *Engine, accountID, name string) (string, any, error) {
	l, err := a.list(ctx, e, accountID)
	// Only the name and uuid: the size changes with every write and is no setting.
	return findListed(l, err, name, func(id string) any { return d1Database{UUID: id, Name: name} })
}

func (a d1API) nameOf(ctx context.Context, e *Engine, accountID, id string) (string, bool, error) {
	l, err := a.list(ctx, e, accountID)
	return nameListed(l, err, id)
}

func (d1API) create(ctx context.Context, e *Engine, accountID, name string) (string, error) {
	var db d1Database
	if err := e.api.Call(ctx, http.MethodPost, d1Path(accountID), map[string]string{"name": name}, &db); err != nil {
		return "", err
	}
	if db.UUID == "" {
		return "", fmt.Errorf("the API answered no uuid for database %s", name)
	}
	return db.UUID, nil
}

// holds: a database holds data when it has a table (num_tables); one without the field may
// hold data.
func (d1API) holds(ctx context.Context, e *Engine, accountID, id string) (dataState, error) {
	var db d1Database
	if err := e.api.Call(ctx, http.MethodGet, d1Path(accountID)+"/"+url.PathEscape(id), nil, &db); err != nil {
		return dataState{}, fmt.Errorf("read database: %w", err)
	}
	switch {
	case db.NumTables == nil:
		return dataState{holds: true, unknown: true, what: "the API did not say how many tables it has"}, nil
	case *db.NumTables == 0:
		return dataState{}, nil
	}
	what := countText(*db.NumTables, *db.NumTables+1, "table", "tables")
	if db.FileSize != nil {
		what += fmt.Sprintf(" (%d bytes)", *db.FileSize)
	}
	return dataState{holds: true, what: what}, nil
}

func (d1API) deletesWith() string { return "deletes it with its tables" }

// emptyOut: deleting a database deletes its tables.
func (d1API) emptyOut(context.Context, *Engine, string, string) error { return nil }

func (d1API) remove(ctx context.Context, e *Engine, accountID, id string) error {
	err := e.api.Call(ctx, http.MethodDelete, d1Path(accountID)+"/"+url.PathEscape(id), nil, nil)
	if err != nil && !cfapi.IsNotFound(err) {
		return err
	}
	return nil
}
